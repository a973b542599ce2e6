"""Cost budgets a task can declare: ``llm_task(..., budgets={"max_latency_p95_s": 0.5})``.

Pure: a budget is a key naming the figure, its direction and its unit; checking one
needs only the measured figures (the ``measures`` dict of the report plus the cost).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from pytest_llmselect.errors import SpecError


@dataclass(frozen=True)
class BudgetKind:
    key: str
    figure: str         # key in the figures dict
    upper: bool         # True: the figure must not exceed the budget
    unit: str
    scale: float = 1.0  # figure * scale is in the budget's unit


BUDGETS: dict[str, BudgetKind] = {b.key: b for b in (
    BudgetKind("max_latency_p50_s", "latency_p50", True, "s"),
    BudgetKind("max_latency_p95_s", "latency_p95", True, "s"),
    BudgetKind("max_request_latency_p95_s", "request_latency_p95", True, "s"),
    BudgetKind("max_ttft_p50_s", "ttft_p50", True, "s"),
    BudgetKind("max_usd_per_1000_cases", "usd_per_1000_cases", True, "USD per 1,000 cases"),
    BudgetKind("max_peak_memory_mib", "peak_memory_bytes", True, "MiB", 1 / 2**20),
    BudgetKind("min_tokens_per_second", "tokens_per_second", False, "tokens/s"),
)}


def validate_budgets(budgets: Mapping[str, Any], where: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in budgets.items():
        if key not in BUDGETS:
            raise SpecError(f"{where}: unknown budget {key!r}; known: {', '.join(BUDGETS)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
            raise SpecError(f"{where}: budget {key!r} must be a non-negative number, got {value!r}")
        out[key] = float(value)
    return out


@dataclass(frozen=True)
class BudgetResult:
    key: str
    budget: float
    measured: float | None
    unit: str
    passed: bool | None  # None: the figure was not measured

    def message(self) -> str:
        kind = BUDGETS[self.key]
        if self.measured is None:
            return f"{kind.figure} was not measured, so budget {self.key} = {self.budget:g} {self.unit} cannot be checked"
        verb = "is within" if self.passed else ("exceeds" if kind.upper else "is below")
        return f"{kind.figure} = {self.measured:.4g} {self.unit} {verb} the budget {self.key} = {self.budget:g} {self.unit}"


def check_budgets(budgets: Mapping[str, float], figures: Mapping[str, Any]) -> list[BudgetResult]:
    results = []
    for key, budget in budgets.items():
        kind = BUDGETS[key]
        raw = figures.get(kind.figure)
        if raw is None:
            results.append(BudgetResult(key, budget, None, kind.unit, None))
            continue
        value = float(raw) * kind.scale
        passed = value <= budget if kind.upper else value >= budget
        results.append(BudgetResult(key, budget, value, kind.unit, passed))
    return results
