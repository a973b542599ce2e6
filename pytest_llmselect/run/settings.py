"""The run's settings: one frozen value made from options and ini keys (``run/configure.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_llmselect.candidates import Candidate
from pytest_llmselect.cost import Price
from pytest_llmselect.memory_budget import MemoryBudget
from pytest_llmselect.race import RaceSetting


@dataclass(frozen=True)
class Settings:
    candidates: tuple[Candidate, ...]
    alpha: float
    reports: tuple[Path, ...] = ()
    device: str | None = None
    dtype: str | None = None
    batch_size: int | str = 32  # or "auto": the largest batch that fits, found by splitting on out-of-memory
    level: float = 0.95
    seed: int = 0
    price: Price = field(default_factory=lambda: Price(usd_per_hour=1.0, source="default"))
    run_log: Path | None = None
    constraints: Any = None  # selection.Constraints; filters before the argmin
    bench_rounds: int | None = None  # timed rounds of each group's model work (None: rounds_for decides)
    # With bench_rounds None: one timed round of each group first, more later only where cost can
    # change the pick (run/retiming.py). False under pytest-xdist, where no process sees a whole task.
    rounds_follow_decision: bool = True
    bench_warmup: int = 0         # whole untimed rounds before them
    warmup_batch: bool = True     # one untimed batch of each kind first (lazy init, first allocations)
    cost_model: str = "time"      # costmodel.COST_MODELS
    latency_sample: int = 8       # requests per group timed alone at batch size 1 (0: off)
    cpu_threads: int | None = None  # torch intra-op threads for local models (None: torch's default)
    demos: tuple[Any, ...] = ()  # demos.DemoConfig per --llm-demos entry; candidates already expanded
    cache_mode: str = "readwrite"  # response cache: off | read | readwrite
    cache_path: Path | None = None
    cache_max_age_s: float | None = None  # a served model's cached answers older than this are sent again
    errors: str = "worst"  # errored cases: "worst" (count at the metric's worst value) or "exclude"
    truncation: str = "warn"  # a prompt longer than the context window: "warn" (counted, shown) or "error"
    judge: str | None = None  # --llm-judge: the judge model's spec (a task's llm_task(judge=...) wins)
    samples: int | None = None  # --llm-samples / --llm-temperature / --llm-top-p: defaults for sampling tasks
    temperature: float | None = None
    top_p: float | None = None
    race: RaceSetting = field(default_factory=lambda: RaceSetting(False))  # --llm-race: stages, drops
    max_memory: MemoryBudget = field(default_factory=MemoryBudget)  # --llm-max-memory: loaded models kept
    checks: str = "fail"  # a failed min_quality/budget check: "fail" its item, or "report" (xfail it)
    max_cases: int | None = None  # --llm-max-cases: the first N cases of each task (None: all)

    def price_of(self, candidate: str) -> Price:
        """The price ``candidate`` is charged under the session's cost model."""
        from pytest_llmselect.costmodel import effective_price

        by_name = {c.name: c for c in self.candidates}
        return effective_price(by_name[candidate].price, self.price, self.cost_model)

    def rounds_for(self, candidate: str, *, served: bool = False) -> int:
        """Timed rounds of ``candidate``'s model work in its first pass: ``--llm-benchmark-rounds``
        when set; else 1 where its cost is exact (tokens, flops, a token-priced API) or the model
        is served (``served``: more rounds would repeat, and pay for, the same requests); else,
        priced by time on a local model, 1 now and ``AUTO_ROUNDS`` in all where the cost turns
        out able to change the pick (``rounds_follow_decision``, run/retiming.py), or
        ``AUTO_ROUNDS`` at once where no process sees a whole task (pytest-xdist)."""
        if self.bench_rounds is not None:
            return self.bench_rounds
        if self.price_of(candidate).usd_per_hour is None or served:
            return 1
        return 1 if self.rounds_follow_decision else AUTO_ROUNDS

    def retimable(self, candidate: Candidate) -> bool:
        """Whether ``candidate``'s groups may be timed again where cost can change the pick."""
        return (self.bench_rounds is None and self.rounds_follow_decision and self.cost_model == "time"
                and not candidate.is_served and self.price_of(candidate.name).usd_per_hour is not None)


#: Timed rounds of a local, time-priced group where cost can change the pick (and, under
#: pytest-xdist, of every such group): the interval then also carries the spread of rounds.
AUTO_ROUNDS = 3

