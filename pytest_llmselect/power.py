"""Power analysis of a paired comparison: the smallest difference a test would detect with
the cases at hand, and the cases needed to detect a given difference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pytest_llmselect.descriptive import _is_binary, _scale, sample_sd
from pytest_llmselect.distributions import normal_quantile
from pytest_llmselect.errors import SpecError
from pytest_llmselect.stats_arguments import _check_non_negative, _check_prob, _paired

__all__ = ["cases_needed", "minimum_detectable_difference"]


def minimum_detectable_difference(
    a: Sequence[float], b: Sequence[float], *, alpha: float = 0.05, power: float = 0.8
) -> float:
    """Smallest paired mean difference a two-sided test at ``alpha`` would
    detect with probability ``power``: ``(z_{1-alpha/2} + z_power) * sd / sqrt(n)``.

    ``sd`` is the sample SD of the differences a - b; for binary a and b it is
    ``sqrt(discordant pairs / n)``, the SD of a difference under no effect
    (McNemar). When ``sd`` is 0 (no case differs) the floor
    ``scale * sqrt(min(1, 3/n))`` is used: by the rule of three, up to 3/n of
    cases could differ unseen; ``scale`` is 1 for scores in [0, 1] and the
    observed range of a and b otherwise (1 if that is 0 too).
    """
    fn = "minimum_detectable_difference"
    xa, xb = _paired(a, b, fn)
    alpha = _check_prob(alpha, fn, "alpha")
    power = _check_prob(power, fn, "power")
    n = len(xa)
    diffs = [x - y for x, y in zip(xa, xb)]
    if _is_binary(xa) and _is_binary(xb):
        sd = math.sqrt(sum(1 for d in diffs if d != 0.0) / n)
    elif n >= 2:
        mean = math.fsum(diffs) / n
        sd = sample_sd(diffs, mean)
    else:
        sd = 0.0
    if sd == 0.0:
        sd = _scale(xa, xb) * math.sqrt(min(1.0, 3.0 / n))
    z = normal_quantile(1.0 - alpha / 2.0) + normal_quantile(power)
    return z * sd / math.sqrt(n)


def cases_needed(sd_diff: float, margin: float, *, alpha: float = 0.05, power: float = 0.8) -> int:
    """Paired cases needed to detect a mean difference of ``margin`` (two-sided
    test at ``alpha``, given ``power``) when differences have SD ``sd_diff``:
    ``ceil(((z_{1-alpha/2} + z_power) * sd_diff / margin) ** 2)``, at least 1.
    A 1e-9 slack keeps float noise on an exact integer from adding a case.
    """
    fn = "cases_needed"
    sd_diff = _check_non_negative(sd_diff, fn, "sd_diff")
    margin = _check_non_negative(margin, fn, "margin", strict=True)
    alpha = _check_prob(alpha, fn, "alpha")
    power = _check_prob(power, fn, "power")
    z = normal_quantile(1.0 - alpha / 2.0) + normal_quantile(power)
    ratio = z * sd_diff / margin
    need = ratio * ratio  # inf, never OverflowError, when the ratio is past 1.3e154
    if not math.isfinite(need):
        raise SpecError(f"{fn}: sd_diff / margin = {sd_diff!r} / {margin!r} needs more cases than a float can count")
    return max(1, math.ceil(need - 1e-9))
