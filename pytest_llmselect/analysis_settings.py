"""What an analysis is asked for (``AnalysisSettings``) and the vocabulary the report
states with its figures: the schema version, each figure's unit and how each figure is
made (rendered verbatim by every report format).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from pytest_llmselect.costmodel import COST_MODELS
from pytest_llmselect.errors import SpecError
from pytest_llmselect.selection import Constraints

__all__ = ["METHODS", "SCHEMA_VERSION", "UNITS", "AnalysisSettings"]

SCHEMA_VERSION = 1


UNITS = {
    "cost": "USD per 1,000 cases",
    "alpha": "USD per 1,000 cases per unit of loss",
    "latency": "s",
    "memory": "bytes",
    "throughput": "tokens/s",
    "flops": "FLOP (estimate: 2 x parameters x tokens)",
    "energy": "J per 1,000 cases",
}


# How each figure is made, for the report to say (rendered verbatim by every format).
METHODS = {
    "quality_interval": ("0/1 scores: Wilson score interval; other scores: Student t interval of the mean "
                         "(near-nominal coverage at small n, where bootstrap and normal intervals run short: "
                         "Bowyer, Aitchison & Ivanova 2025, 'Don't use the CLT in LLM evals with fewer than a "
                         "few hundred datapoints'); grouped cases: cluster-robust t"),
    "comparison": ("objective cost + alpha x loss of each candidate minus the selected one's, per case; "
                   "0/1 losses: Tango's score test with continuity correction (McNemar's with Edwards' correction at a difference of 0) and the interval it "
                   "implies; other losses: paired t with the cost's own variance added (Welch-Satterthwaite); "
                   "Bonferroni over the comparisons, simultaneous intervals"),
    "cost_interval": ("time cost model: Student t interval of the mean over the timed rounds, after an untimed "
                      "warm-up; tokens and flops cost models: exact. Objective interval: the quality and cost "
                      "intervals' half-widths in quadrature. Costs within noise: Welch t interval of the "
                      "difference holds 0"),
    "pick_probability": ("share of paired bootstrap resamples of the cases (and of the timed rounds, when "
                         "recorded) each candidate wins; clear pick: the selected wins at least the "
                         "confidence level of them and every other candidate is significantly worse"),
}


@dataclass(frozen=True)
class AnalysisSettings:
    alpha: float
    level: float = 0.95
    seed: int = 0
    weights: Mapping[str, float] | None = None
    constraints: Constraints = field(default_factory=Constraints)
    near_tie: float = 0.01
    n_resamples: int = 2000
    errors: str = "worst"  # errored cases: at the metric's worst value, or "exclude"d from estimates
    cost_model: str = "time"

    def __post_init__(self) -> None:
        if self.cost_model not in COST_MODELS:
            raise SpecError(f"cost_model must be one of {', '.join(COST_MODELS)}, got {self.cost_model!r}")
