"""The few-shot table: (model, demonstration configuration) candidates pivoted by model."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from .formatting import interval
from .model import DASH, Table


def demos_table(results: Sequence[Mapping[str, Any]], cands: Mapping[str, Mapping[str, Any]],
                 selected: Any, ci: str) -> Table | None:
    """(model, demonstration configuration) candidates pivoted: one row per configuration,
    one column per model, each cell the quality with its interval; the selected is marked."""
    cells: dict[tuple[str, str], Mapping[str, Any]] = {}
    models: list[str] = []
    configs: list[str] = []
    for r in results:
        cand = cands.get(str(r.get("candidate"))) or {}
        if not cand.get("demos"):
            continue
        model, config = str(cand.get("model") or r.get("candidate")), str(cand["demos"])
        models += [model] if model not in models else []
        configs += [config] if config not in configs else []
        cells[(model, config)] = r
    if not cells:
        return None

    def cell(model: str, config: str) -> str:
        r = cells.get((model, config))
        if r is None:
            return DASH
        # The mark goes first: a right-aligned column then keeps every interval's digits in line
        # (a trailing " *" pushed the selected row two columns left).
        mark = "* " if r.get("candidate") == selected else ""
        return mark + interval(r.get("quality"), r.get("lo"), r.get("hi"))

    return Table(
        title=f"Demonstrations side by side: quality [{ci}] per configuration and model",
        headers=("demonstrations", *models),
        rows=tuple((c, *(cell(m, c) for m in models)) for c in configs),
        numeric=(False, *(True for _ in models)),
        highlight=tuple(any(cells.get((m, c), {}).get("candidate") == selected for m in models) for c in configs),
        footnotes=("* the selected configuration (cost + alpha x loss, see Results)",) if any(
            r.get("candidate") == selected for r in cells.values()) else ())
