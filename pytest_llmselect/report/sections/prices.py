"""Prices and cost cells: which candidates have an assumed price, and the mark their costs carry."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from .formatting import num, spread
from .model import DEFAULT_PRICE_MARK, Report


def candidates_by_name(report: Report) -> dict[str, Mapping[str, Any]]:
    return {str(c.get("name")): c for c in report.get("candidates") or []}


def is_default_price(candidate: Mapping[str, Any] | None) -> bool:
    return bool(candidate) and (candidate.get("price") or {}).get("source") == "default"


def price_text(price: Mapping[str, Any] | None) -> str:
    price = price or {}
    parts = []
    if price.get("usd_per_hour") is not None:
        parts.append(f"${num(price['usd_per_hour'])}/hour")
    if price.get("usd_per_million_input_tokens") is not None:
        parts.append(f"${num(price['usd_per_million_input_tokens'])}/M input tokens")
    if price.get("usd_per_million_output_tokens") is not None:
        parts.append(f"${num(price['usd_per_million_output_tokens'])}/M output tokens")
    if price.get("usd_per_pflop") is not None:
        parts.append(f"${num(price['usd_per_pflop'])}/PFLOP")
    if price.get("usd_per_kwh") is not None:
        parts.append(f"${num(price['usd_per_kwh'])}/kWh")
    return ", ".join(parts) or "no price"


def cost_cell(cost: Any, candidate: Mapping[str, Any] | None, lo: Any = None, hi: Any = None) -> str:
    # The mark travels with the number so a default price cannot pass for a quoted one.
    mark = DEFAULT_PRICE_MARK if is_default_price(candidate) else ""
    text = spread(cost, lo, hi)
    return text.replace(" [", mark + " [", 1) if " [" in text else text + mark


def default_footnote(names_: Sequence[str], report: Report) -> tuple[str, ...]:
    cands = candidates_by_name(report)
    if any(is_default_price(cands.get(n)) for n in names_):
        return (f"{DEFAULT_PRICE_MARK} cost from an ASSUMED default price, not a quoted one",)
    return ()
