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
