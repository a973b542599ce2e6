"""Quantiles of the reference distributions the tests and intervals use: the standard
normal (the standard library's ``NormalDist``) and Student's t (scipy, imported on first
use).
"""

from __future__ import annotations

from statistics import NormalDist

from pytest_llmselect.stats_arguments import _check_int, _check_prob

__all__ = ["normal_quantile", "t_quantile"]


def _scipy_stats():  # type: ignore[no-untyped-def]
    # Imported on first use: the gate plugin imports this module at every pytest start.
    from scipy import stats

    return stats


def normal_quantile(p: float) -> float:
    """Inverse of the standard normal CDF; ``p`` strictly in (0, 1).

    The standard library's ``NormalDist.inv_cdf`` (Wichura 1988, algorithm AS 241, about 16
    digits; within 4e-15 of ``scipy.stats.norm.ppf`` over (1e-12, 1 - 1e-12)): a one-candidate
    report needs only this quantile, and ``scipy.stats`` costs most of a second to import."""
    p = _check_prob(p, "normal_quantile", "p")
    return NormalDist().inv_cdf(p)


def t_quantile(p: float, df: int) -> float:
    """Quantile of Student's t with integer ``df >= 1`` (``scipy.stats.t.ppf``)."""
    p = _check_prob(p, "t_quantile", "p")
    df = _check_int(df, "t_quantile", "df", 1)
    return float(_scipy_stats().t.ppf(p, df))
