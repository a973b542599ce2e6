"""Synthetic task families the zoo models are trained and evaluated on.

Pure Python (no torch): the suite data script, the trainer and the unit tests all
import it. Every generator is a function of its seed, and the held-out evaluation
cases are fixed first so that the training samplers can exclude them; a model
scored on ``suites/data`` has never seen those cases (nor, for addition, their
commuted twin ``b+a``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterator

from pytest_llmselect.zoo.examples import ANSWER_END, TrainingExample
from pytest_llmselect.zoo.lookup import lookup_train

# Bump when a generator's output changes: it is part of every recipe hash, so the
# cached models are retrained against the new data.
DATA_VERSION = 1

EVAL_SEED = 20240601
FAMILIES: tuple[str, ...] = ("addition", "largest", "multiples")
EVAL_SIZES: dict[str, int] = {"addition": 200, "largest": 150, "multiples": 100}

# The character the model emits after every answer; suites generate with it as stop.


@dataclass(frozen=True)
class GenerationCase:
    """A prompt whose greedy continuation (cut at ``ANSWER_END``) is scored against ``answer``."""

    id: str
    prompt: str
    answer: str

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "prompt": self.prompt, "answer": self.answer}


@dataclass(frozen=True)
class ChoiceCase:
    """A context and candidate continuations; ``choices[answer]`` is the correct one."""

    id: str
    context: str
    choices: tuple[str, ...]
    answer: int

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "context": self.context, "choices": list(self.choices), "answer": self.answer}


# --------------------------------------------------------------------------- addition

ADD_MAX = 99  # operands 0..99, so answers have 1-3 digits


def addition_prompt(a: int, b: int) -> str:
    return f"{a}+{b}="


def _addition_case(i: int, a: int, b: int) -> GenerationCase:
    return GenerationCase(id=f"addition-{i:03d}", prompt=addition_prompt(a, b), answer=str(a + b))


@lru_cache(maxsize=None)
def _addition_eval_pairs() -> tuple[tuple[int, int], ...]:
    rng = random.Random(EVAL_SEED + 1)
    pairs = [(a, b) for a in range(ADD_MAX + 1) for b in range(ADD_MAX + 1)]
    rng.shuffle(pairs)
    chosen: list[tuple[int, int]] = []
    taken: set[tuple[int, int]] = set()
    for a, b in pairs:
        # Skip a pair whose commuted twin is already held out: 200 distinct sums-of-pairs.
        if (a, b) in taken:
            continue
        chosen.append((a, b))
        taken.update({(a, b), (b, a)})
        if len(chosen) == EVAL_SIZES["addition"]:
            break
    return tuple(chosen)


def addition_eval() -> list[GenerationCase]:
    return [_addition_case(i, a, b) for i, (a, b) in enumerate(_addition_eval_pairs())]


@lru_cache(maxsize=None)
def addition_train_pairs() -> tuple[tuple[int, int], ...]:
    """Every operand pair that is neither a held-out pair nor its commuted twin."""
    held = {p for a, b in _addition_eval_pairs() for p in ((a, b), (b, a))}
    return tuple((a, b) for a in range(ADD_MAX + 1) for b in range(ADD_MAX + 1) if (a, b) not in held)


def addition_train(rng: random.Random) -> TrainingExample:
    a, b = rng.choice(addition_train_pairs())
    return TrainingExample("addition", addition_prompt(a, b), str(a + b) + ANSWER_END)


# --------------------------------------------------------------------------- largest

LARGEST_K = 4
LARGEST_LOW, LARGEST_HIGH = 10, 99
# The numbers of one case lie in a window this wide, so several usually share the
# largest tens digit and the ones digits decide. A one-layer model cannot relate a
# ones digit to the tens digit before it, which is what separates the zoo's sizes.
LARGEST_WINDOW = 20


def largest_context(numbers: tuple[int, ...]) -> str:
    return "largest of " + " ".join(str(n) for n in numbers) + ":"


def _draw_numbers(rng: random.Random) -> tuple[int, ...]:
    low = rng.randint(LARGEST_LOW, LARGEST_HIGH - LARGEST_WINDOW + 1)
    return tuple(rng.sample(range(low, low + LARGEST_WINDOW), LARGEST_K))


@lru_cache(maxsize=None)
def _largest_eval_sets() -> tuple[tuple[int, ...], ...]:
    rng = random.Random(EVAL_SEED + 2)
    chosen: list[tuple[int, ...]] = []
    seen: set[frozenset[int]] = set()
    while len(chosen) < EVAL_SIZES["largest"]:
        numbers = _draw_numbers(rng)
        if frozenset(numbers) in seen:
            continue
        seen.add(frozenset(numbers))
        chosen.append(numbers)
    return tuple(chosen)


def largest_eval() -> list[ChoiceCase]:
    cases = []
    for i, numbers in enumerate(_largest_eval_sets()):
        choices = tuple(f" {n}" for n in numbers)
        cases.append(ChoiceCase(f"largest-{i:03d}", largest_context(numbers), choices, numbers.index(max(numbers))))
    return cases


@lru_cache(maxsize=None)
def _largest_held_out() -> frozenset[frozenset[int]]:
    # A set of numbers, not a tuple: a reordering of a held-out case is held out too.
    return frozenset(frozenset(numbers) for numbers in _largest_eval_sets())


def largest_train(rng: random.Random) -> TrainingExample:
    held = _largest_held_out()
    while True:
        numbers = _draw_numbers(rng)
        if frozenset(numbers) not in held:
            return TrainingExample("largest", largest_context(numbers), f" {max(numbers)}" + ANSWER_END)


# --------------------------------------------------------------------------- multiples

# n in 2..12 and a limit giving 2..7 multiples: short answers (cheap to train on)
# whose partial prefixes earn partial token-F1 credit.
MULT_N = range(2, 13)
MULT_LIMIT = range(10, 100)
MULT_COUNT = range(2, 8)


def multiples_prompt(n: int, limit: int) -> str:
    return f"multiples of {n} below {limit}:"


def multiples_answer(n: int, limit: int) -> str:
    return "".join(f" {m}" for m in range(n, limit, n))


@lru_cache(maxsize=None)
def multiples_all_pairs() -> tuple[tuple[int, int], ...]:
    return tuple(
        (n, limit) for n in MULT_N for limit in MULT_LIMIT if len(range(n, limit, n)) in MULT_COUNT
    )


@lru_cache(maxsize=None)
def _multiples_eval_pairs() -> tuple[tuple[int, int], ...]:
    rng = random.Random(EVAL_SEED + 3)
    return tuple(rng.sample(multiples_all_pairs(), EVAL_SIZES["multiples"]))


def multiples_eval() -> list[GenerationCase]:
    return [
        GenerationCase(f"multiples-{i:03d}", multiples_prompt(n, lim), multiples_answer(n, lim))
        for i, (n, lim) in enumerate(_multiples_eval_pairs())
    ]


@lru_cache(maxsize=None)
def multiples_train_pairs() -> tuple[tuple[int, int], ...]:
    held = set(_multiples_eval_pairs())
    return tuple(p for p in multiples_all_pairs() if p not in held)


def multiples_train(rng: random.Random) -> TrainingExample:
    n, limit = rng.choice(multiples_train_pairs())
    return TrainingExample("multiples", multiples_prompt(n, limit), multiples_answer(n, limit) + ANSWER_END)


# --------------------------------------------------------------------------- access by family

TRAIN_SAMPLERS: dict[str, Callable[[random.Random], TrainingExample]] = {
    "addition": addition_train,
    "largest": largest_train,
    "multiples": multiples_train,
}


def eval_cases(family: str) -> list[GenerationCase] | list[ChoiceCase]:
    """The held-out cases of ``family``, exactly as written to ``suites/data/<family>.jsonl``."""
    if family == "addition":
        return addition_eval()
    if family == "largest":
        return largest_eval()
    if family == "multiples":
        return multiples_eval()
    raise KeyError(f"unknown task family {family!r}; valid families: {', '.join(FAMILIES)}")


def training_stream(family: str, seed: int) -> Iterator[TrainingExample]:
    """An endless, seeded stream of training examples of ``family``, disjoint from its eval cases."""
    try:
        sampler = TRAIN_SAMPLERS[family]
    except KeyError:
        raise KeyError(f"unknown task family {family!r}; valid families: {', '.join(FAMILIES)}") from None
    rng = random.Random(f"{family}:{seed}")
    while True:
        yield sampler(rng)


def token_f1(prediction: str, reference: str) -> float:
    """Whitespace-token F1 with multiset overlap (SQuAD style); both empty counts as 1."""
    pred, ref = prediction.split(), reference.split()
    if not pred or not ref:
        return float(pred == ref)
    remaining: dict[str, int] = {}
    for tok in ref:
        remaining[tok] = remaining.get(tok, 0) + 1
    common = 0
    for tok in pred:
        if remaining.get(tok, 0) > 0:
            remaining[tok] -= 1
            common += 1
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


TRAIN_SAMPLERS["lookup"] = lookup_train  # the demonstration task's sampler lives in lookup.py
