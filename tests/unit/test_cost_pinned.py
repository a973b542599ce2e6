"""cost.py: every bad-input message whole, and the cost formula's parts summed, where
mutation testing found the tests loose (docs/mutation-testing.md)."""

from __future__ import annotations

import math
import re
from typing import Any, Callable

import pytest

from pytest_llmselect.cost import Price, check_non_negative, dollars_per_1000_cases, inference_flops, percentile
from pytest_llmselect.errors import SpecError

NN = "must be a finite number >= 0, got"
D = "dollars_per_1000_cases"

CASES: list[tuple[str, Callable[[], Any], str]] = [
    ("price type", lambda: dollars_per_1000_cases(n_cases=1, price=3), f"{D}: `price` must be a Price, got 3 (int)"),
    ("n_cases bool", lambda: dollars_per_1000_cases(n_cases=True, price=Price(usd_per_hour=1)),
     f"{D}: `n_cases` must be an int >= 1, got True (bool)"),
    ("n_cases float", lambda: dollars_per_1000_cases(n_cases=2.0, price=Price(usd_per_hour=1)),
     f"{D}: `n_cases` must be an int >= 1, got 2.0 (float)"),
    ("seconds", lambda: dollars_per_1000_cases(n_cases=1, model_seconds=-1, price=Price(usd_per_hour=1)),
     f"{D}: `model_seconds` {NN} -1 (int)"),
    ("input tokens", lambda: dollars_per_1000_cases(n_cases=1, input_tokens=-1, price=Price(usd_per_million_input_tokens=1)),
     f"{D}: `input_tokens` {NN} -1 (int)"),
    ("output tokens", lambda: dollars_per_1000_cases(n_cases=1, output_tokens=-2, price=Price(usd_per_million_output_tokens=1)),
     f"{D}: `output_tokens` {NN} -2 (int)"),
    ("flops", lambda: dollars_per_1000_cases(n_cases=1, flops=-1, price=Price(usd_per_pflop=1)), f"{D}: `flops` {NN} -1 (int)"),
    ("energy", lambda: dollars_per_1000_cases(n_cases=1, energy_joules=-1, price=Price(usd_per_kwh=1)),
     f"{D}: `energy_joules` {NN} -1 (int)"),
    ("flops params", lambda: inference_flops(-1, 3), f"inference_flops: `num_parameters` {NN} -1 (int)"),
    ("flops tokens", lambda: inference_flops(1, -3), f"inference_flops: `tokens` {NN} -3 (int)"),
    ("percentile str", lambda: percentile("ab", 50), "percentile: `values` must be a sequence of numbers, got 'ab' (str)"),
    ("percentile not iterable", lambda: percentile(5, 50), "percentile: `values` must be a sequence of numbers, got 5 (int)"),
    ("percentile empty", lambda: percentile([], 50), "percentile: `values` must not be empty, got []"),
    ("percentile bool value", lambda: percentile([1, True], 50), "percentile: every value must be a number, got True (bool)"),
    ("percentile str value", lambda: percentile([1, "2"], 50), "percentile: every value must be a number, got '2' (str)"),
    ("percentile q bool", lambda: percentile([1], True), "percentile: `q` must be a number in [0, 100], got True (bool)"),
    ("percentile q str", lambda: percentile([1], "50"), "percentile: `q` must be a number in [0, 100], got '50' (str)"),
    ("price value", lambda: Price(usd_per_pflop=-1), f"Price: `usd_per_pflop` {NN} -1 (int)"),
    ("price empty", lambda: Price(), "Price: set at least one of `usd_per_hour`, `usd_per_million_input_tokens`, "
     "`usd_per_million_output_tokens`, `usd_per_pflop`, `usd_per_kwh`"),
    ("no prefix", lambda: check_non_negative(-1, "", "alpha"), f"`alpha` {NN} -1 (int)"),
]


@pytest.mark.parametrize(("call", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line(call: Callable[[], Any], message: str) -> None:
    with pytest.raises(SpecError, match="^" + re.escape(message) + "$"):
        call()


def test_every_part_of_a_price_adds_up() -> None:
    price = Price(usd_per_hour=3.6, usd_per_million_input_tokens=2.0, usd_per_million_output_tokens=8.0,
                  usd_per_pflop=0.5, usd_per_kwh=0.36)
    got = dollars_per_1000_cases(n_cases=4, model_seconds=10.0, input_tokens=3000, output_tokens=1000,
                                 flops=2e15, energy_joules=7.2e6, price=price)
    parts = 10.0 / 3600 * 3.6 + 3000 / 1e6 * 2.0 + 1000 / 1e6 * 8.0 + 2e15 / 1e15 * 0.5 + 7.2e6 / 3.6e6 * 0.36
    assert got == pytest.approx(parts * 1000 / 4, rel=1e-12)


def test_the_median_of_an_infinite_pair() -> None:
    assert percentile([math.inf, math.inf], 50) == math.inf
    assert percentile([1.0, math.inf], 0) == 1.0
