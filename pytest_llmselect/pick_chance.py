"""The pick probability: each candidate's chance of the lowest objective, from the confidence
distribution of ``decision.compare`` (see ``decision``'s notes). Pure: numpy only.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

from pytest_llmselect.decision import _DF_CAP, TEMPER, Stratum, _build, _codes, _weights
from pytest_llmselect.errors import SpecError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["pick_shares"]


def pick_shares(strata: Sequence[Stratum], candidates: Sequence[str], selected: str, *, alpha: float,
                level: float = 0.95, clear: bool, n_draws: int = 4000, seed: int = 0,
                temper: float = TEMPER) -> dict[str, float]:
    """Probability that each of ``candidates`` has the lowest objective, from the confidence
    distribution of ``compare`` (see the module notes). The selected candidate's share is at
    most ``level`` unless the pick is ``clear``. Deterministic for a given ``seed``."""
    import numpy as np

    names = list(candidates)
    if selected not in names:
        raise SpecError(f"decision.pick_shares: the selected {selected!r} is not among `candidates`")
    rivals = [c for c in names if c != selected]
    if not rivals:
        return {selected: 1.0}
    tests = [_build(strata, r, selected, alpha) for r in rivals]
    mu = np.array([math.copysign(max(0.0, abs(t.diff) - t.cc), t.diff) for t in tests])
    sd = np.array([math.sqrt(float(t.var(0.0))) for t in tests]) * temper
    corr = _correlation(strata, rivals, selected, alpha)
    with np.errstate(over="ignore", invalid="ignore"):
        cov = np.nan_to_num(corr * np.outer(sd, sd), nan=0.0, posinf=np.finfo(float).max)
    df = min(t.df() for t in tests)
    rng = np.random.default_rng(seed)
    # An eigen-decomposition, not Cholesky: the correlation may be singular (identical rivals).
    vals, vecs = np.linalg.eigh(cov)
    root = vecs * np.sqrt(np.clip(vals, 0.0, None))
    z = rng.standard_normal((n_draws, len(rivals))) @ root.T
    if df < _DF_CAP:
        z *= np.sqrt(df / rng.chisquare(df, size=(n_draws, 1)))
    draws = np.concatenate([np.zeros((n_draws, 1)), mu[None, :] + z], axis=1)
    wins = np.bincount(np.argmin(draws, axis=1), minlength=len(names)).astype(float) / n_draws
    shares = {selected: float(wins[0]), **{r: float(wins[j + 1]) for j, r in enumerate(rivals)}}
    if not clear and shares[selected] > level:
        runner = max(rivals, key=lambda r: shares[r])
        shares[runner] += shares[selected] - level
        shares[selected] = level
    return {c: shares[c] for c in names}


def _correlation(strata: Sequence[Stratum], rivals: Sequence[str], selected: str, alpha: float) -> np.ndarray:
    """Cluster-robust correlation of the rivals' objective differences with the selected."""
    import numpy as np

    k = len(rivals)
    cov = np.zeros((k, k))
    for st, w in zip(strata, _weights(strata)):
        mat = np.array([np.asarray(st.losses[c], dtype=float) for c in (selected, *rivals)])
        keep = ~np.isnan(mat).any(axis=0)
        if keep.sum() < 2:
            continue
        codes = _codes(st.groups, mat.shape[1])[keep]
        d = (mat[1:, keep] - mat[0, keep]) * (w * alpha * float(st.scale))
        _, inverse = np.unique(codes, return_inverse=True)
        sums = np.array([np.bincount(inverse, weights=row) for row in d])
        sizes = np.bincount(inverse).astype(float)
        centred = sums - sizes[None, :] * d.mean(axis=1, keepdims=True)
        n = float(keep.sum())
        cov += centred @ centred.T / (n * n)
        se_sel = float(st.cost_se.get(selected, 0.0) or 0.0)
        cov += w * w * se_sel * se_sel  # the selected's cost error is shared by every difference
        for j, r in enumerate(rivals):
            se_r = float(st.cost_se.get(r, 0.0) or 0.0)
            cov[j, j] += w * w * se_r * se_r
    diag = np.sqrt(np.diag(cov))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = cov / np.outer(diag, diag)
    corr = np.where(np.isfinite(corr), corr, 0.0)
    np.fill_diagonal(corr, 1.0)
    return np.clip(corr, -1.0, 1.0)
