"""How far a judge agrees with a reference metric on the same outputs.

Pure: no pytest, no torch, no I/O (numpy, scipy and statsmodels).

- Both sides 0/1 (a yes/no judge against exact match): Cohen's kappa, chance-corrected
  agreement, with the asymptotic interval of Fleiss, Cohen & Everitt (1969) as statsmodels
  computes its standard error (``statsmodels.stats.inter_rater.cohens_kappa``).
- Otherwise (a 1-5 rubric against token F1 or semantic similarity): Spearman's rank
  correlation, with the Fisher-z interval and Bonett & Wright's (2000) variance
  ``(1 + r^2 / 2) / (n - 3)``.
- With ``groups`` (the case each pair came from) and some case graded more than once (several
  candidates' outputs for one case), pairs of one case are not independent: the interval is
  then a percentile bootstrap over cases (seeded), not the formula that assumes independence.

A side that never varies has no agreement to measure: the value is None with the reason.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from pytest_llmselect.errors import SpecError

__all__ = ["Agreement", "agreement", "cohen_kappa", "spearman"]

N_BOOT = 1000


@dataclass(frozen=True)
class Agreement:
    """``method``: "cohen_kappa" or "spearman"; ``value`` in [-1, 1] with [lo, hi] at ``level``
    (``interval``: how it was made); ``value`` None with ``reason`` when it cannot be measured."""

    method: str
    value: float | None
    lo: float | None
    hi: float | None
    n: int
    level: float
    interval: str | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {"method": self.method, "value": self.value, "lo": self.lo, "hi": self.hi, "n": self.n,
                "level": self.level, "interval": self.interval, "reason": self.reason}


def _floats(values: object, arg: str) -> list[float]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise SpecError(f"agreement: `{arg}` must be a sequence of numbers, got {values!r}")
    out = []
    for x in values:
        if isinstance(x, bool) or not isinstance(x, numbers.Real) or not math.isfinite(x):
            raise SpecError(f"agreement: every value of `{arg}` must be a finite number, got {x!r}")
        out.append(float(x))
    return out


def _kappa(a: Sequence[float], b: Sequence[float]) -> float | None:
    n = len(a)
    labels = sorted(set(a) | set(b))
    observed = sum(1 for x, y in zip(a, b) if x == y) / n
    expected = sum((sum(1 for x in a if x == c) / n) * (sum(1 for y in b if y == c) / n) for c in labels)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


def _spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    if len(set(a)) < 2 or len(set(b)) < 2:
        return None
    from scipy.stats import spearmanr

    r = float(spearmanr(a, b).statistic)
    return r if math.isfinite(r) else None


def cohen_kappa(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> Agreement:
    """Cohen's kappa of two label sequences with its asymptotic interval."""
    xs, ys = _floats(a, "a"), _floats(b, "b")
    n = len(xs)
    value = _kappa(xs, ys) if n else None
    if value is None:
        return Agreement("cohen_kappa", None, None, None, n, level,
                         reason="both sides give one label only" if n else "no pairs")
    import numpy as np
    from statsmodels.stats.inter_rater import cohens_kappa as sm_kappa

    labels = sorted(set(xs) | set(ys))
    index = {c: i for i, c in enumerate(labels)}
    table = np.zeros((len(labels), len(labels)))
    for x, y in zip(xs, ys):
        table[index[x], index[y]] += 1
    from scipy.stats import norm

    import warnings

    with warnings.catch_warnings():  # its z statistic divides by 0 on a degenerate table; we use only the SE
        warnings.simplefilter("ignore", RuntimeWarning)
        std = float(sm_kappa(table)["std_kappa"])
    half = float(norm.ppf(0.5 + level / 2.0)) * std
    lo, hi = value - half, value + half
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo = hi = value
    return Agreement("cohen_kappa", value, max(-1.0, min(lo, value)), min(1.0, max(hi, value)), n, level,
                     interval="asymptotic")


def spearman(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> Agreement:
    """Spearman's rank correlation with the Fisher-z (Bonett-Wright) interval; n >= 4."""
    xs, ys = _floats(a, "a"), _floats(b, "b")
    n = len(xs)
    value = _spearman(xs, ys) if n >= 2 else None
    if value is None:
        return Agreement("spearman", None, None, None, n, level,
                         reason="a side gives one value only" if n >= 2 else "fewer than 2 pairs")
    if n < 4 or abs(value) >= 1.0:
        return Agreement("spearman", value, value if abs(value) >= 1.0 else -1.0,
                         value if abs(value) >= 1.0 else 1.0, n, level, interval="fisher_z")
    from scipy.stats import norm

    z = math.atanh(value)
    half = float(norm.ppf(0.5 + level / 2.0)) * math.sqrt((1.0 + value * value / 2.0) / (n - 3))
    return Agreement("spearman", value, math.tanh(z - half), math.tanh(z + half), n, level, interval="fisher_z")


def _cluster_bootstrap(method: str, xs: list[float], ys: list[float], groups: list[Hashable], level: float,
                       seed: int) -> tuple[float, float] | None:
    import numpy as np

    by_group: dict[Hashable, list[int]] = {}
    for i, g in enumerate(groups):
        by_group.setdefault(g, []).append(i)
    clusters = list(by_group.values())
    rng = np.random.default_rng(seed)
    stat = _kappa if method == "cohen_kappa" else _spearman
    values = []
    for _ in range(N_BOOT):
        picks = rng.integers(0, len(clusters), size=len(clusters))
        idx = [i for p in picks for i in clusters[p]]
        v = stat([xs[i] for i in idx], [ys[i] for i in idx])
        if v is not None:
            values.append(v)
    if len(values) < N_BOOT // 2:
        return None
    lo, hi = np.quantile(values, [(1.0 - level) / 2.0, 0.5 + level / 2.0])
    return float(lo), float(hi)


def agreement(judge: Sequence[float], reference: Sequence[float], *, groups: Sequence[Hashable] | None = None,
              level: float = 0.95, seed: int = 0) -> Agreement:
    """Agreement of ``judge`` with ``reference`` scores of the same outputs; see the module notes."""
    xs, ys = _floats(judge, "judge"), _floats(reference, "reference")
    if len(xs) != len(ys):
        raise SpecError(f"agreement: `judge` ({len(xs)}) and `reference` ({len(ys)}) must pair up")
    binary = all(v in (0.0, 1.0) for v in xs + ys)
    result = cohen_kappa(xs, ys, level) if binary else spearman(xs, ys, level)
    if groups is None or result.value is None:
        return result
    gs = list(groups)
    if len(gs) != len(xs):
        raise SpecError(f"agreement: `groups` ({len(gs)}) must have one label per pair ({len(xs)})")
    if len(set(gs)) == len(gs) or len(set(gs)) < 2:
        return result
    bounds = _cluster_bootstrap(result.method, xs, ys, gs, level, seed)
    if bounds is None:
        return result
    lo, hi = bounds
    assert result.value is not None
    return Agreement(result.method, result.value, min(lo, result.value), max(hi, result.value), result.n, level,
                     interval="cluster_bootstrap")
