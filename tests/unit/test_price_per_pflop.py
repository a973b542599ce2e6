"""A candidate priced only per PFLOP (a price table's ``usd_per_pflop``) is charged that price
under the flops cost model, not the built-in default: the report's analysis once read such a
price as "no rate at all" and fell back to the default $0.002 per PFLOP."""

from __future__ import annotations

from pytest_llmselect.analysis import price_of
from pytest_llmselect.costmodel import effective_price
from pytest_llmselect.cost import DEFAULT_PRICE


def test_a_price_per_pflop_alone_is_the_candidates_price() -> None:
    candidate = {"name": "m", "price": {"usd_per_hour": None, "usd_per_million_input_tokens": None,
                                        "usd_per_million_output_tokens": None, "usd_per_pflop": 5.0,
                                        "usd_per_kwh": None, "source": "configured"}}
    price = price_of(candidate)
    assert price.usd_per_pflop == 5.0 and price.source == "configured"
    assert effective_price(price, DEFAULT_PRICE, "flops").usd_per_pflop == 5.0


def test_the_report_header_names_a_price_per_pflop_and_per_kwh() -> None:
    """A price table's usd_per_pflop was shown as "no price" in the header's quoted prices."""
    from pytest_llmselect.report.sections.prices import price_text

    assert price_text({"usd_per_pflop": 5.0, "usd_per_kwh": 0.3}) == "$5/PFLOP, $0.3/kWh"
    assert price_text({"usd_per_hour": 1.0}) == "$1/hour"
    assert price_text({}) == "no price"
