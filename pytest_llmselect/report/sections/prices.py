"""Prices and cost cells: which candidates have an assumed price, and the mark their costs carry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from .formatting import decimals_for, fixed_interval, money_scale, num, spread
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


@dataclass(frozen=True)
class CostColumn:
    """One notation for a table's cost column: a shared SI prefix (``m$`` = $0.001) and fixed
    decimals, chosen from the column's own values."""

    factor: float
    prefix: str
    decimals: int

    @classmethod
    def of(cls, results: Sequence[Mapping[str, Any]]) -> "CostColumn":
        factor, prefix = money_scale([r.get("cost") for r in results])
        values = [r.get(k) for r in results for k in ("cost", "cost_lo", "cost_hi")]
        scaled = [v / factor for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        return cls(factor, prefix, decimals_for(scaled))

    @property
    def header(self) -> str:
        return f"cost {self.prefix}$/1k"

    def cell(self, r: Mapping[str, Any], candidate: Mapping[str, Any] | None) -> str:
        def scaled(v: Any) -> Any:
            return v / self.factor if isinstance(v, (int, float)) and not isinstance(v, bool) else v
        # The mark travels with the number so a default price cannot pass for a quoted one.
        mark = DEFAULT_PRICE_MARK if is_default_price(candidate) else ""
        text = fixed_interval(scaled(r.get("cost")), scaled(r.get("cost_lo")), scaled(r.get("cost_hi")),
                              self.decimals)
        return text.replace(" [", mark + " [", 1) if " [" in text else text + mark

    def footnotes(self) -> tuple[str, ...]:
        if not self.prefix:
            return ()
        share = {"m": "thousandths", "\u00b5": "millionths", "n": "billionths"}[self.prefix]
        return (f"{self.prefix}$: {share} of a US dollar; cost per 1,000 cases",)
