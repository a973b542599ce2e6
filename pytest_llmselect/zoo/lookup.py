"""The ``lookup`` task: an answer found only in a relevant demonstration.

Each case is a made-up word with a number (``"bavo 7"``) whose label (``A``-``D``) was
drawn at random for the word. Nothing in the input predicts the label; the pool holds
other numbered variants of the same words with their labels (``"bavo 3=C"``). A model
that copies the label of the demonstration whose word matches the query's succeeds
when that demonstration is in its prompt (nearest-neighbour selection puts it there)
and is at chance otherwise (random demonstrations almost never contain it).

The ``zoo:lookup`` model is trained for exactly that copy, on fresh words and fresh
labels every example, so it cannot memorise any word's label. Pure Python, no torch.
"""

from __future__ import annotations

import random
from functools import lru_cache
from typing import Any

from pytest_llmselect.zoo.examples import ANSWER_END, TrainingExample

LOOKUP_SEED = 20241111
LABELS = ("A", "B", "C", "D")
CONSONANTS = "bdfgklmnprstvz"
VOWELS = "aeiou"
N_EVAL = 120          # evaluated words, one case each
N_DISTRACTORS = 360   # pool words that are never asked about
VARIANTS = 3          # numbered variants of each word in the pool
TEMPLATE = "{input}={label}\n"
LAST_SHARE = 0.7      # training prompts whose matching demonstrations come last
MAX_SHOTS = 8         # training prompts hold 1..MAX_SHOTS demonstrations


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(CONSONANTS) + rng.choice(VOWELS) for _ in range(2))


@lru_cache(maxsize=None)
def all_words() -> tuple[str, ...]:
    return tuple(sorted(a + b + c + d for a in CONSONANTS for b in VOWELS for c in CONSONANTS for d in VOWELS))


@lru_cache(maxsize=None)
def _fixed() -> tuple[dict[str, str], tuple[str, ...], dict[str, tuple[int, ...]], dict[str, int]]:
    """Labels of the pool's words, which words are evaluated, their pool variants and query numbers."""
    rng = random.Random(LOOKUP_SEED)
    words = rng.sample(all_words(), N_EVAL + N_DISTRACTORS)
    labels = {w: rng.choice(LABELS) for w in words}
    variants = {w: tuple(sorted(rng.sample(range(10), VARIANTS + 1))) for w in words}
    queried = tuple(words[:N_EVAL])
    # The evaluated number of a word is one of its draws that the pool does not hold.
    query_number = {w: variants[w][rng.randrange(VARIANTS + 1)] for w in queried}
    return labels, queried, variants, query_number


def lookup_pool() -> list[dict[str, Any]]:
    """The demonstration pool: every pool word in ``VARIANTS`` numbered variants, with its label."""
    labels, _, variants, query_number = _fixed()
    rows = []
    for w in sorted(labels):
        for n in [n for n in variants[w] if n != query_number.get(w)][:VARIANTS]:
            rows.append({"id": f"pool-{w}-{n}", "input": f"{w} {n}", "label": labels[w]})
    return rows


def lookup_eval() -> list[dict[str, Any]]:
    """The evaluated cases: one numbered variant of each evaluated word, absent from the pool."""
    labels, queried, _, query_number = _fixed()
    return [{"id": f"lookup-{i:03d}", "input": f"{w} {query_number[w]}", "answer": labels[w]}
            for i, w in enumerate(queried)]


def lookup_prompt(demos_text: str, query: str) -> str:
    return f"{demos_text}{query}="


@lru_cache(maxsize=None)
def _train_words() -> tuple[str, ...]:
    held = set(_fixed()[0])
    return tuple(w for w in all_words() if w not in held)


def lookup_train(rng: random.Random) -> TrainingExample:
    """1..MAX_SHOTS demonstrations of fresh words with fresh labels, 1..3 of them variants of
    the query's word (anywhere in the prompt), then the query; the target is that word's label."""
    words = _train_words()
    n = rng.randint(1, MAX_SHOTS)
    matches = rng.randint(1, min(2, n))
    query_word = rng.choice(words)
    label = rng.choice(LABELS)
    numbers = rng.sample(range(10), matches + 1)
    demos = [(f"{query_word} {numbers[i]}", label) for i in range(matches)]
    while len(demos) < n:
        other = rng.choice(words)
        if other != query_word:
            demos.append((f"{other} {rng.randrange(10)}", rng.choice(LABELS)))
    # Mostly right before the query (where "most similar last" puts the nearest
    # neighbour), sometimes anywhere: the model learns to match words, not only positions.
    matched, others = demos[:matches], demos[matches:]
    rng.shuffle(others)
    if rng.random() < LAST_SHARE:
        demos = others + matched
    else:
        demos = matched + others
        rng.shuffle(demos)
    text = "".join(TEMPLATE.format(input=i, label=lab) for i, lab in demos)
    return TrainingExample("lookup", lookup_prompt(text, f"{query_word} {numbers[-1]}"), label + ANSWER_END)


def render_files() -> dict[str, str]:
    """The example suite's data files (name -> JSONL text), a pure function of the seed."""
    import json

    def jsonl(rows: list[dict[str, Any]]) -> str:
        return "".join(json.dumps(r, ensure_ascii=True) + "\n" for r in rows)

    return {"lookup.jsonl": jsonl(lookup_eval()), "lookup-pool.jsonl": jsonl(lookup_pool())}
