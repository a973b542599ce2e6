"""Argument checks of the statistics functions (``descriptive``, ``distributions``,
``intervals``, ``paired_tests``, ``power``).

Each check returns the value as the computation wants it (a float, an int, a list of
floats) or raises one ``SpecError`` naming the function, the argument, the value and its
type.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Hashable, Iterable

from pytest_llmselect.errors import SpecError


def _describe(value: object) -> str:
    return f"{value!r} ({type(value).__name__})"


def _fail(fn: str, arg: str, value: object, must: str) -> SpecError:
    return SpecError(f"{fn}: `{arg}` must be {must}, got {_describe(value)}")


def _check_prob(value: object, fn: str, arg: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 < value < 1.0:
        raise _fail(fn, arg, value, "a number strictly between 0 and 1")
    return float(value)


def _check_non_negative(value: object, fn: str, arg: str, *, strict: bool = False) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or not (value > 0 if strict else value >= 0)
    ):
        raise _fail(fn, arg, value, f"a finite number {'>' if strict else '>='} 0")
    return float(value)


def _check_int(value: object, fn: str, arg: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise _fail(fn, arg, value, f"an int >= {minimum}")
    return int(value)


def _floats(values: object, fn: str, arg: str, *, nonempty: bool = True) -> list[float]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise _fail(fn, arg, values, "a sequence of finite numbers")
    out = []
    for x in values:
        if not isinstance(x, numbers.Real) or not math.isfinite(float(x)):
            raise _fail(fn, f"{arg}[{len(out)}]", x, "a finite number")
        out.append(float(x))
    if nonempty and not out:
        raise _fail(fn, arg, values, "non-empty")
    return out


def _check_groups(groups: object, n: int, fn: str) -> list[Hashable]:
    if isinstance(groups, (str, bytes)) or not isinstance(groups, Iterable):
        raise _fail(fn, "groups", groups, "a sequence of hashable labels")
    gs = list(groups)
    if len(gs) != n:
        raise _fail(fn, "groups", groups, f"as long as `values` ({n})")
    if not all(isinstance(g, Hashable) for g in gs):
        raise _fail(fn, "groups", groups, "hashable labels")
    return gs


def _paired(a: object, b: object, fn: str) -> tuple[list[float], list[float]]:
    xa, xb = _floats(a, fn, "a"), _floats(b, fn, "b", nonempty=False)
    if len(xa) != len(xb):
        raise _fail(fn, "b", b, f"as long as `a` ({len(xa)} values), has {len(xb)}")
    return xa, xb
