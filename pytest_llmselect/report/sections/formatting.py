"""Number formatting shared by every section: values, intervals, p-values, shares, sizes."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from .model import DASH, INF


def num(x: Any, digits: int = 4) -> str:
    if x is None:
        return DASH
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return str(x)
    try:
        f = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(f):
        return "nan"
    if math.isinf(f):
        return INF if f > 0 else "-" + INF
    return f"{f:.{digits}g}"


def qual(x: Any, signed: bool = False) -> str:
    """Quality-like values: fixed 3 decimals keep a column of accuracies aligned."""
    if not isinstance(x, (int, float)) or isinstance(x, bool) or not math.isfinite(x) or abs(x) >= 10:
        return num(x)
    return f"{x:+.3f}" if signed else f"{x:.3f}"


def interval(value: Any, lo: Any, hi: Any, signed: bool = False) -> str:
    if lo is None and hi is None:
        return qual(value, signed)
    return f"{qual(value, signed)} [{qual(lo, signed)}, {qual(hi, signed)}]"


def alpha_range(r: Any) -> str:
    """``None`` means the candidate wins for no alpha; an upper end of ``None``/inf is unbounded."""
    if r is None:
        return "never"
    if not isinstance(r, (list, tuple)) or len(r) != 2:
        return str(r)
    lo, hi = r
    if hi is None or (isinstance(hi, (int, float)) and math.isinf(hi)):
        return f"[{num(lo)}, {INF})"
    return f"[{num(lo)}, {num(hi)}]"


def pval(p: Any, digits: int = 2) -> str:
    """A p-value; one below 0.0005 (the floor of 2,000 resamples is 1/2001) prints as ``< 0.0005``."""
    if isinstance(p, (int, float)) and not isinstance(p, bool) and 0 <= p < 0.0005:
        return "< 0.0005"
    return num(p, digits)


def bracketed(value: Any, lo: Any, hi: Any, digits: int = 3) -> str:
    """A value and its interval, ``0.0047 [0.0041, 0.0062]``; an unknown end prints as a dash."""
    return f"{num(value, digits)} [{num(lo, 3)}, {num(hi, 3)}]"


def spread(value: Any, lo: Any, hi: Any, digits: int = 4) -> str:
    """A cost-like value with its interval; an exact one (lo == hi == value) prints alone."""
    if lo is None or hi is None or (lo == hi == value):
        return num(value, digits)
    return bracketed(value, lo, hi, digits)


def quantile_cell(m: Mapping[str, Any], key: str) -> str | None:
    """A latency percentile with its interval, ``0.0047 [0.0041, 0.0062]``; an end too few
    requests bound prints as a dash; a percentile without interval fields prints alone."""
    value = m.get(key)
    if value is None:
        return None
    lo, hi = m.get(f"{key}_lo"), m.get(f"{key}_hi")
    if f"{key}_lo" not in m and f"{key}_hi" not in m:
        return num(value, 3)
    return bracketed(value, lo, hi)


def mib(nbytes: Any) -> str:
    return DASH if not isinstance(nbytes, (int, float)) else f"{nbytes / 2**20:.1f}"


def count(n: Any) -> str:
    """Parameter counts as 13.9k / 494M / 1.5B: the digits beyond three say nothing here."""
    if not isinstance(n, (int, float)) or isinstance(n, bool):
        return DASH
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.3g}{suffix}"
    return str(int(n))


def names(items: Sequence[Any]) -> str:
    return ", ".join(str(i) for i in items) if items else DASH


def percent(share: Any) -> str:
    if not isinstance(share, (int, float)) or isinstance(share, bool):
        return DASH
    text = f"{100 * share:.0f}%"
    # A share that rounds to 0% or 100% but is not exactly that must not read as certain.
    if text == "0%" and share > 0:
        return "<1%"
    if text == "100%" and share < 1:
        return ">99%"
    return text


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def decimals_for(values: Sequence[Any], digits: int = 4, smallest_digits: int = 2, most: int = 6) -> int:
    """Decimals that give the column's largest value ``digits`` significant figures and its
    smallest non-zero one at least ``smallest_digits`` (up to ``most`` decimals), so every row
    of a column has one notation (no mix of ``48.5`` and ``7.501``, no exponents) and no
    figure rounds away to zero."""
    sizes = [abs(float(v)) for v in values if _finite(v) and v != 0]
    if not sizes:
        return min(most, digits - 1)
    need = max(digits - 1 - math.floor(math.log10(max(sizes))),
               smallest_digits - 1 - math.floor(math.log10(min(sizes))))
    return max(0, min(most, need))


def fixed(x: Any, decimals: int) -> str:
    """``12,345.68``: fixed decimals with thousands separators; unknown as a dash, inf as ``∞``."""
    if x is None:
        return DASH
    if not _finite(x):
        return num(x)
    return f"{float(x):,.{decimals}f}"


def fixed_interval(value: Any, lo: Any, hi: Any, decimals: int) -> str:
    """A value with its interval in one column's notation; an exact one (lo == hi == value) alone."""
    if (lo is None and hi is None) or (lo == hi == value):
        return fixed(value, decimals)
    return f"{fixed(value, decimals)} [{fixed(lo, decimals)}, {fixed(hi, decimals)}]"


# SI prefixes for a column of US dollar amounts: the unit goes in the header (m$ = $0.001).
_SI = ((1.0, ""), (1e-3, "m"), (1e-6, "\u00b5"), (1e-9, "n"))


def money_scale(values: Sequence[Any]) -> tuple[float, str]:
    """The factor and prefix that bring the column's largest amount to at least 1 (``m`` for
    thousandths of a dollar), one for the whole column so its numbers compare at a glance."""
    largest = max((abs(float(v)) for v in values if _finite(v) and v != 0), default=1.0)
    for factor, prefix in _SI:
        if largest >= factor:
            return factor, prefix
    return _SI[-1]


def sorted_alpha_ranges(ranges: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Alpha ranges in alpha order (lowest lower end first); candidates that never win last."""
    def key(kv: tuple[str, Any]) -> tuple[int, float, str]:
        r = kv[1]
        if isinstance(r, (list, tuple)) and len(r) == 2 and _finite(r[0]):
            return (0, float(r[0]), kv[0])
        return (1, 0.0, kv[0])
    return sorted(ranges.items(), key=key)
