"""What running a candidate costs, in dollars per 1,000 cases. Pure, no I/O.

Prices for each cost model (see ``costmodel``): machine time (``usd_per_hour``, for
models the team runs itself) and tokens (``usd_per_million_*_tokens``, for hosted
APIs), summed when both are set; compute (``usd_per_pflop``, the ``flops`` model);
and energy (``usd_per_kwh``), added where an energy counter measured it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass

from pytest_llmselect.errors import SpecError

__all__ = [
    "DEFAULT_PRICE",
    "PRICE_KEYS",
    "Price",
    "dollars_per_1000_cases",
    "inference_flops",
    "percentile",
]


def _describe(value: object) -> str:
    return f"{value!r} ({type(value).__name__})"


def check_non_negative(value: object, where: str, arg: str) -> float:
    """``value`` as a float if it is a finite real number >= 0 (bools excluded), else SpecError."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value < 0
    ):
        prefix = f"{where}: " if where else ""
        raise SpecError(f"{prefix}`{arg}` must be a finite number >= 0, got {_describe(value)}")
    return float(value)


PRICE_KEYS = ("usd_per_hour", "usd_per_million_input_tokens", "usd_per_million_output_tokens",
              "usd_per_pflop", "usd_per_kwh")


@dataclass(frozen=True)
class Price:
    """Prices for one candidate; a component left as None does not apply.

    ``source`` is "default" when the price is the package's assumption and
    "configured" when the user supplied it; reports show which.
    """

    usd_per_hour: float | None = None
    usd_per_million_input_tokens: float | None = None
    usd_per_million_output_tokens: float | None = None
    usd_per_pflop: float | None = None
    usd_per_kwh: float | None = None
    source: str = "configured"

    def __post_init__(self) -> None:
        for arg in PRICE_KEYS:
            value = getattr(self, arg)
            if value is not None:
                check_non_negative(value, "Price", arg)
        if all(getattr(self, arg) is None for arg in PRICE_KEYS):
            raise SpecError("Price: set at least one of " + ", ".join(f"`{k}`" for k in PRICE_KEYS))
        if self.source not in ("default", "configured"):
            raise SpecError(
                f"Price: `source` must be 'default' or 'configured', got {_describe(self.source)}"
            )

    @property
    def uses_tokens(self) -> bool:
        return (
            self.usd_per_million_input_tokens is not None
            or self.usd_per_million_output_tokens is not None
        )


#: The price assumed for a local model when none is configured: a nominal
#: machine at $1 per hour of model time. It is an assumption, not a
#: measurement; it makes costs comparable between local candidates (cost is
#: then proportional to time) but says nothing about a real bill.
DEFAULT_PRICE = Price(usd_per_hour=1.0, source="default")


def dollars_per_1000_cases(
    *,
    n_cases: int,
    model_seconds: float | None = None,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    flops: float | None = None,
    energy_joules: float | None = None,
    price: Price,
) -> float:
    """Cost of running 1,000 cases at the rate measured over ``n_cases``.

    ``model_seconds`` and the token counts are totals over the ``n_cases``
    cases. Hourly part: ``model_seconds / 3600 * usd_per_hour``; token part:
    ``tokens / 1e6 * usd_per_million_*_tokens`` for each token price that is
    set; the sum is scaled by ``1000 / n_cases``. A measurement that a set
    price needs but that is None is an error (a cost silently left at 0 would
    make a candidate look free). Compute part: ``flops / 1e15 * usd_per_pflop``
    (``flops`` needed when that price is set). Energy part: ``joules / 3.6e6 *
    usd_per_kwh``, only where ``energy_joules`` was measured (most machines have no
    counter; the report says so rather than failing).
    """
    where = "dollars_per_1000_cases"
    if not isinstance(price, Price):
        raise SpecError(f"{where}: `price` must be a Price, got {_describe(price)}")
    if isinstance(n_cases, bool) or not isinstance(n_cases, numbers.Integral) or n_cases < 1:
        raise SpecError(f"{where}: `n_cases` must be an int >= 1, got {_describe(n_cases)}")
    total = 0.0
    if price.usd_per_hour is not None:
        if model_seconds is None:
            raise SpecError(f"{where}: `model_seconds` is needed for an hourly price, got None")
        total += check_non_negative(model_seconds, where, "model_seconds") / 3600.0 * price.usd_per_hour
    for arg, tokens, rate in (
        ("input_tokens", input_tokens, price.usd_per_million_input_tokens),
        ("output_tokens", output_tokens, price.usd_per_million_output_tokens),
    ):
        if rate is None:
            continue
        if tokens is None:
            raise SpecError(f"{where}: `{arg}` is needed for a per-token price, got None")
        total += check_non_negative(tokens, where, arg) / 1e6 * rate
    if price.usd_per_pflop is not None:
        if flops is None:
            raise SpecError(f"{where}: `flops` is needed for a price per PFLOP, got None")
        total += check_non_negative(flops, where, "flops") / 1e15 * price.usd_per_pflop
    if price.usd_per_kwh is not None and energy_joules is not None:
        total += check_non_negative(energy_joules, where, "energy_joules") / 3.6e6 * price.usd_per_kwh
    return total * 1000.0 / n_cases


def inference_flops(num_parameters: float, tokens: float) -> float:
    """Approximate forward-pass FLOPs: ``2 * num_parameters * tokens`` (one
    multiply and one add per parameter per token; attention is ignored)."""
    params = check_non_negative(num_parameters, "inference_flops", "num_parameters")
    return 2.0 * params * check_non_negative(tokens, "inference_flops", "tokens")


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q``-th percentile (0 <= q <= 100) with linear interpolation
    between order statistics, as ``numpy.percentile``'s default method."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise SpecError(f"percentile: `values` must be a sequence of numbers, got {_describe(values)}")
    xs = []
    for x in values:
        if isinstance(x, bool) or not isinstance(x, numbers.Real) or math.isnan(x):
            raise SpecError(f"percentile: every value must be a number, got {_describe(x)}")
        xs.append(float(x))
    if not xs:
        raise SpecError("percentile: `values` must not be empty, got []")
    if isinstance(q, bool) or not isinstance(q, numbers.Real) or not 0 <= q <= 100:
        raise SpecError(f"percentile: `q` must be a number in [0, 100], got {_describe(q)}")
    xs.sort()
    h = (len(xs) - 1) * (float(q) / 100.0)
    i = math.floor(h)
    if i + 1 >= len(xs):
        return xs[-1]
    lo, hi = xs[i], xs[i + 1]
    if h == i or lo == hi:  # also keeps inf from turning into nan
        return lo
    return lo + (h - i) * (hi - lo)
