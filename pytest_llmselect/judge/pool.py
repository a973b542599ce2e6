"""The session's judges: one ``JudgeRunner`` per judge spec, made on first use, closed with the
session; the grades each case received, for its record; and the judges' evaluation cost.

No pytest: the session hands over what it knows (the task, the case's fields, the outputs of
a whole group for a batched grading).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pytest_llmselect.errors import JudgeError, SpecError
from pytest_llmselect.judge.grading import Grade
from pytest_llmselect.judge.prompts import JudgeTemplate, template_for
from pytest_llmselect.judge.runner import JudgeRunner

__all__ = ["JudgePool", "check_judge_spec"]


def check_judge_spec(spec: str, base_dir: Any = None) -> str | None:
    """``--llm-judge``, checked like a candidate spec before any model loads (None: no judge)."""
    spec = spec.strip()
    if not spec:
        return None
    from pytest_llmselect.candidates import parse_spec

    try:
        parse_spec(spec, base_dir=base_dir)
    except SpecError as exc:
        raise SpecError(f"--llm-judge: {exc}") from None
    return spec


class JudgePool:
    def __init__(self, default_spec: str | None, *, cache: Any = None, batch_size: int = 32,
                 device: str | None = None, dtype: str | None = None, base_dir: Any = None) -> None:
        self.default_spec = default_spec
        self.cache = cache
        self.batch_size = batch_size
        self.device, self.dtype = device, dtype
        self.base_dir = base_dir
        self.runners: dict[str, JudgeRunner] = {}
        self.grades: dict[str, dict[str, dict[str, Any]]] = {}  # nodeid -> kind -> grade as recorded
        self.batched: set[tuple[str, str, str]] = set()  # (task, candidate, kind) graded as one batch
        self.remote: dict[tuple[str, str], dict[str, Any]] = {}  # xdist controller: (worker, judge) -> figures

    def spec_for(self, task: Any) -> str:
        spec = getattr(task, "judge", None) or self.default_spec
        if not spec:
            raise JudgeError(f"task {task.name!r} grades with a judge but none is set: pass --llm-judge=SPEC "
                             "(ini llm_judge) or llm_task(judge=SPEC)")
        return spec

    def runner_for(self, task: Any) -> JudgeRunner:
        spec = self.spec_for(task)
        if spec not in self.runners:
            from pytest_llmselect.candidates import parse_spec

            try:
                cand = parse_spec(spec, base_dir=self.base_dir)
            except SpecError as exc:
                raise JudgeError(f"judge of task {task.name!r}: {exc}") from None
            batch = cand.batch_size or self.batch_size
            self.runners[spec] = JudgeRunner(cand, cache=self.cache, batch_size=batch if isinstance(batch, int) else 32,
                                             device=cand.device or self.device, dtype=cand.dtype or self.dtype)
        return self.runners[spec]

    @staticmethod
    def template(kind: str, source: str | None = None) -> JudgeTemplate:
        return template_for(kind, source)

    def prefetch(self, task: Any, candidate: str, kind: str, fields: Sequence[Mapping[str, Any]],
                 template: JudgeTemplate | None = None) -> None:
        """Grade a whole group's outputs in one batch, once per (task, candidate, kind); the cases'
        own calls then read their grades from the runner's results."""
        key = (task.name, candidate, kind)
        if key in self.batched:
            return
        self.batched.add(key)
        if fields:
            self.runner_for(task).grade_many(template or template_for(kind), fields, count=False)

    def grade(self, task: Any, nodeid: str, kind: str, fields: Mapping[str, Any],
              template: JudgeTemplate | None = None) -> Grade:
        """One case's grade; kept for its record. An unreadable or failed grade raises ``JudgeError``."""
        runner = self.runner_for(task)
        grade = runner.grade_many(template or template_for(kind), [fields])[0]
        self.grades.setdefault(nodeid, {})[kind] = {
            **grade.to_dict(), "judge": runner.name, "judge_source": runner.source or runner.candidate.source}
        if grade.error is not None:
            raise JudgeError(grade.error)
        assert grade.score is not None
        return grade

    def grades_of(self, nodeid: str) -> dict[str, dict[str, Any]] | None:
        mine = self.grades.get(nodeid)
        if not mine:
            return None
        return {kind: {k: v for k, v in g.items() if k != "answer"} for kind, g in mine.items()}

    def evaluation_cost(self, price_of: Callable[[Any], Any] | None = None, cost_model: str = "time",
                        ) -> list[dict[str, Any]]:
        """Each judge's work: its figures, and in USD what it cost under ``cost_model``."""
        out = []
        for runner in self.runners.values():
            figures = runner.figures()
            if runner.loads or figures["requests"]:
                figures["cost_model"] = cost_model
                figures["usd"] = _usd(runner, price_of(runner.candidate) if price_of else None, cost_model)
                out.append(figures)
        return out

    def priced(self, settings: Any) -> list[dict[str, Any]]:
        """This process's judges' work, priced like a candidate's (the judge spec's price, else the
        session's default) under the session's cost model."""
        from pytest_llmselect.costmodel import effective_price

        return self.evaluation_cost(lambda cand: effective_price(cand.price, settings.price, settings.cost_model),
                                    settings.cost_model)

    def report(self, settings: Any) -> list[dict[str, Any]]:
        """Every judge's evaluation cost: this process's and, under -n, each worker's latest figures."""
        return self.priced(settings) + list(self.remote.values())

    def close(self) -> None:
        for runner in self.runners.values():
            runner.close()


def _usd(runner: JudgeRunner, price: Any, cost_model: str) -> float | None:
    """The judge's whole work priced as a candidate's would be (time x USD per hour, or tokens
    x USD per million); None where the price does not cover this cost model."""
    if price is None:
        return None
    m = runner.measures
    if cost_model == "tokens" and price.usd_per_million_input_tokens is not None:
        return (m.input_tokens * price.usd_per_million_input_tokens
                + m.output_tokens * (price.usd_per_million_output_tokens or 0.0)) / 1e6
    if cost_model == "flops" and price.usd_per_pflop is not None and runner.num_parameters:
        from pytest_llmselect.cost import inference_flops

        return inference_flops(runner.num_parameters, m.input_tokens + m.output_tokens) / 1e15 * price.usd_per_pflop
    if cost_model == "time" and price.usd_per_hour is not None:
        return m.model_seconds * price.usd_per_hour / 3600.0
    return None
