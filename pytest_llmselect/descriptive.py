"""Descriptive statistics of a sample: whether it is binary, its mean, its standard
deviation and its quantiles, computed so that no finite input overflows or lands outside
the data.

A score sequence is *binary* when every value is exactly 0 or 1 (``True``/``False``
count).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["sample_sd"]


def _is_binary(xs: Sequence[float]) -> bool:
    return all(x == 0.0 or x == 1.0 for x in xs)


def _mean(xs: Sequence[float]) -> float:
    # fsum(xs) / n can land an ulp outside the data (e.g. five equal values).
    return min(max(math.fsum(xs) / len(xs), min(xs)), max(xs))


def _scale(a: Sequence[float], b: Sequence[float]) -> float:
    """The most one case can move the mean of ``a`` or ``b`` by: 1 for scores in [0, 1], else
    the observed range of both (1 if that is 0 too)."""
    pooled = [*a, *b]
    return 1.0 if all(0.0 <= x <= 1.0 for x in pooled) else (max(pooled) - min(pooled)) or 1.0


# Outside these magnitudes a squared deviation can overflow a float (the float maximum's square
# root is ~1.3e154) or underflow to 0 (the smallest normal float's is ~1.5e-154).
_SQUARE_SAFE = (1e-150, 1e150)


def sample_sd(xs: Sequence[float], mean: float | None = None) -> float:
    """Sample standard deviation of finite ``xs`` (at least two values), ``n - 1`` denominator:
    ``sqrt(sum((x - mean)**2) / (n - 1))``, ``mean`` defaulting to the values' mean.

    When the largest magnitude is above 1e150 or below 1e-150 the values are scaled by it
    before squaring, so no finite input raises ``OverflowError`` or loses its spread to
    underflow (an SD beyond the float maximum comes back as ``inf``).
    """
    n = len(xs)
    big = max(abs(x) for x in xs)
    if big > 0.0 and not _SQUARE_SAFE[0] <= big <= _SQUARE_SAFE[1]:
        scaled = [x / big for x in xs]
        centre = (mean / big) if mean is not None else math.fsum(scaled) / n
        return big * math.sqrt(math.fsum((x - centre) ** 2 for x in scaled) / (n - 1))
    centre = mean if mean is not None else math.fsum(xs) / n
    return math.sqrt(math.fsum((x - centre) ** 2 for x in xs) / (n - 1))


def _quantile_sorted(xs: Sequence[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default)."""
    h = (len(xs) - 1) * q
    i = math.floor(h)
    if i + 1 >= len(xs):
        return xs[-1]
    return xs[i] + (h - i) * (xs[i + 1] - xs[i])
