"""Synthetic per-case scores for the gate's unit and end-to-end tests."""

from __future__ import annotations

import random


def bernoulli(n: int, p: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [1.0 if rng.random() < p else 0.0 for _ in range(n)]


def degrade(values: list[float], flips: int) -> list[float]:
    """The same answers with the first ``flips`` correct ones made wrong."""
    out, left = list(values), flips
    for i, v in enumerate(out):
        if left and v == 1.0:
            out[i], left = 0.0, left - 1
    return out
