"""The zoo's model recipes: everything that determines a trained model's weights.

Kept free of torch so that naming, hashing and locating a cached model is cheap.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import metadata

from pytest_llmselect.zoo.tasks import DATA_VERSION

# Bump when train.py or the tokenizer changes in a way that changes the weights.
# 2: shorter schedules for a first run within minutes; generation config without length defaults.
CODE_VERSION = 2


@dataclass(frozen=True)
class Recipe:
    name: str
    n_layer: int
    n_embd: int
    n_head: int
    steps: int
    lr: float
    seed: int = 0
    warmup: int = 30
    # Examples per optimizer step, per family: each step trains on one family, and
    # the longer families get fewer rows so every step costs about the same. Small
    # batches: on two CPU cores more, cheaper steps bought more quality than bigger ones.
    batch_sizes: tuple[tuple[str, int], ...] = (("addition", 64), ("largest", 32), ("multiples", 16))
    # One pass through this cycle of families is repeated for ``steps`` steps. The
    # comparison in ``largest`` is learnt slowest, so it gets half the steps;
    # ``multiples`` saturates early, so it gets the fewest.
    schedule: tuple[str, ...] = ("addition", "largest", "largest", "addition", "largest", "multiples")
    # Training sequences stay under 50 tokens; the spare positions let longer
    # prompts (few-shot demonstrations) run, untrained there, instead of crashing.
    n_positions: int = 128
    n_inner: int | None = None  # MLP width; None means GPT-2's 4 * n_embd
    description: str = field(default="", compare=False)

    def to_json(self) -> dict[str, object]:
        return asdict(self)


# Measured on the 2-core CPU, one thread per model (see ``python -m pytest_llmselect zoo``):
# ``base`` takes most of the build; the others train beside it in a second process. Bigger
# models get more steps, as in real model families; at equal steps ``small``
# would close part of the gap, and the zoo exists to make sizes differ in quality
# and in cost.
RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe("tiny", n_layer=1, n_embd=32, n_head=2, steps=600, lr=3e-3,
               description="1x32: cheapest, weakest"),
        Recipe("small", n_layer=2, n_embd=64, n_head=4, steps=1000, lr=3e-3,
               description="2x64: the reference point"),
        # 8 heads, not 4: with 4 the model learnt addition or the comparison in
        # `largest` within budget, rarely both. A half-width MLP: more steps per
        # second, which bought more quality than the FLOPs it drops.
        # 1600 steps at a higher rate instead of 2000: a fifth less build time, still
        # clearly ahead of small on every task (1000-1300 steps fell behind it on largest).
        Recipe("base", n_layer=3, n_embd=128, n_head=8, n_inner=256, steps=1600, lr=2.5e-3,
               description="3x128, more steps: best quality, highest sensible cost"),
        Recipe("wide", n_layer=2, n_embd=256, n_head=8, steps=40, lr=1e-3,
               description="2x256, few steps: the most parameters, yet worse than small"),
        Recipe("small-undertrained", n_layer=2, n_embd=64, n_head=4, steps=200, lr=3e-3,
               description="the small recipe with a fifth of its steps: a degraded upgrade"),
    )
}

ZOO_NAMES: tuple[str, ...] = ("tiny", "small", "base", "wide", "small-undertrained")
assert set(ZOO_NAMES) == set(RECIPES)

# Models trained for one task of their own, outside the size family above (so not in
# ZOO_NAMES, which the default suites and their tests select among). ``lookup`` is trained to
# copy the label of the demonstration whose word matches the query's (pytest_llmselect/zoo/lookup.py),
# with that demonstration last in 70% of its prompts; in 500 steps (about 30 s of one CPU
# thread) it learns to copy the last demonstration's label, so it needs the nearest
# neighbour placed last ("most similar last", the similarity strategies' default).
TASK_RECIPES: dict[str, Recipe] = {
    "lookup": Recipe("lookup", n_layer=2, n_embd=64, n_head=4, steps=500, lr=3e-3,
                     batch_sizes=(("lookup", 32),), schedule=("lookup",),
                     description="2x64 trained to copy the label of the matching demonstration; "
                                 "in 500 steps it learns to copy the last one (match first: near chance)"),
}
# Bumped when a task model's training data changes (the size family uses DATA_VERSION).
TASK_DATA_VERSIONS: dict[str, int] = {"lookup": 1}
ALL_ZOO_NAMES: tuple[str, ...] = ZOO_NAMES + tuple(TASK_RECIPES)


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[name] if name in RECIPES else TASK_RECIPES[name]
    except KeyError:
        raise KeyError(f"unknown zoo model {name!r}; valid names: {', '.join(ALL_ZOO_NAMES)}") from None


@lru_cache(maxsize=None)
def library_versions() -> tuple[tuple[str, str], ...]:
    """Installed versions of the libraries whose kernels and initialisation shape the weights.

    Read from package metadata, so torch is not imported. Training is deterministic
    for the same recipe and these versions (on CPU); another version may give other
    weights, so it gets its own cache entry instead of a stale one."""
    out = []
    for dist in ("torch", "transformers"):
        try:
            out.append((dist, metadata.version(dist)))
        except metadata.PackageNotFoundError:
            out.append((dist, "missing"))
    return tuple(out)


def recipe_hash(name: str) -> str:
    """12 hex digits naming the recipe, the data and code versions, and torch's and
    transformers' versions."""
    recipe = get_recipe(name)
    payload = recipe.to_json()
    payload.pop("description")  # prose, not a weight-determining field
    payload["data_version"] = DATA_VERSION
    payload["code_version"] = CODE_VERSION
    if name in TASK_DATA_VERSIONS:
        payload["task_data_version"] = TASK_DATA_VERSIONS[name]
    payload["libraries"] = dict(library_versions())
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]
