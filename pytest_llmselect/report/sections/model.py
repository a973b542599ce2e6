"""The table model every section builds: ``Table``, ``Note`` and the marks and units they share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

Report = Mapping[str, Any]
DASH = "-"
INF = "\u221e"
DEFAULT_PRICE_MARK = "*"
DEFAULT_UNITS = {"cost": "USD per 1,000 cases", "alpha": "USD per 1,000 cases per unit of loss"}


@dataclass(frozen=True)
class Table:
    """Cells are already formatted plain text; renderers escape them for their markup."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...]  # right-aligned columns
    highlight: tuple[bool, ...] = ()  # per row: the selected candidate
    footnotes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Note:
    label: str
    text: str
    warning: bool = False
