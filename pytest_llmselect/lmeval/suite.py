"""``lmeval_suite``: an lm-eval task file as a pytest test, one case per document."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import pytest

from pytest_llmselect.lmeval.build import LmevalCase, Primary, build_cases, build_demo_pool, primary, score_case
from pytest_llmselect.lmeval.config import TaskConfig, load_task
from pytest_llmselect.lmeval.docs import DataKey, parse_mapping
from pytest_llmselect.lmeval.plugin import ATTRIBUTE
from pytest_llmselect.lmeval.scoring import sentence_scores
from pytest_llmselect.lmeval.yamlfile import LmevalError


@dataclass
class ImportedTask:
    """What the collection hook needs to turn the test into one case per document."""

    source: Path
    task: TaskConfig | None
    chosen: Primary | None
    data: Mapping[DataKey, Path]
    limit: int | None
    error: str | None = None
    name: str = ""
    marker: Mapping[str, Any] = field(default_factory=dict)   # llm_task's keyword arguments
    demos: str | None = None       # a DemoPool default ("random:4"): demonstrations chosen by the run
    cases: list[LmevalCase] | None = field(default=None, repr=False)
    pool: Any = field(default=None, repr=False)

    def build(self, extra: Mapping[DataKey, Path]) -> list[LmevalCase]:
        if self.error is not None:
            raise LmevalError(self.error)
        assert self.task is not None
        if self.cases is None:
            mapping = {**extra, **self.data}
            task = self.task
            if self.demos is not None:
                self.pool = build_demo_pool(task, mapping, self.demos)
                task = dataclasses.replace(task, num_fewshot=0)  # the pool's demonstrations replace lm-eval's
            self.cases = build_cases(task, mapping, limit=self.limit)
        return self.cases

    def mark(self) -> pytest.MarkDecorator:
        """The llm_task mark, once the cases (and the demonstration pool) exist."""
        assert self.chosen is not None
        extra = {"demos": self.pool, "requests": _requests_with_demos} if self.pool is not None else {}
        return pytest.mark.llm_task(self.name, **{**self.marker, **extra})


def _mapping(data: Any, base: Path) -> dict[DataKey, Path]:
    if data is None:
        return {}
    if isinstance(data, str):
        data = [data]
    if isinstance(data, Mapping):
        out = {}
        for key, value in data.items():
            parts = key.split() if isinstance(key, str) else list(key)
            if len(parts) not in (2, 3) or not all(isinstance(x, (str, type(None))) for x in parts):
                raise LmevalError(f"lmeval_suite(data=...): key {key!r} is not 'DATASET [CONFIG] SPLIT' "
                                  "or a (dataset, config, split) tuple")
            dkey = DataKey(parts[0], parts[1] if len(parts) == 3 else None, parts[-1])
            path = Path(value).expanduser()
            out[dkey] = path if path.is_absolute() else base / path
        return out
    return parse_mapping(list(data), base, "lmeval_suite(data=...)")


def lmeval_suite(task: str | Path, *, data: Any = None, metric: str | None = None, filter: str | None = None,
                 num_fewshot: int | None = None, limit: int | None = None, functions: bool = True,
                 name: str | None = None, min_quality: float | None = None, weight: float = 1.0,
                 budgets: Mapping[str, float] | None = None, demos: str | None = None) -> Callable[..., None]:
    """An lm-eval task file as a test function; assign it to a ``test_`` name in a suite file::

        test_arc = lmeval_suite("tasks/arc_easy.yaml", data={"allenai/ai2_arc ARC-Easy test": "data/arc.jsonl"})

    Each document of the task's evaluation split is a case of the ``llm_task`` named after
    the task (or ``name``), scored by its first metric and first filter (or ``metric``,
    ``filter``); every metric and filter of the task is kept in the case's extras. Relative
    paths are read from the calling file's folder. ``functions=False`` refuses ``!function``
    fields instead of running the task folder's code. ``num_fewshot`` overrides the file's;
    ``limit`` keeps the first documents (lm-eval's ``--limit``). ``demos="random:4"`` (any
    ``--llm-demos`` configuration) turns the task's few-shot documents into a DemoPool with
    that default: the run's demonstration strategies choose each case's demonstrations
    instead of lm-eval's sampler, and ``--llm-demos`` compares them.
    """
    caller = sys._getframe(1).f_globals.get("__file__")
    base = Path(caller).resolve().parent if caller else Path.cwd()
    source = Path(task).expanduser()
    source = source if source.is_absolute() else base / source
    config: TaskConfig | None = None
    chosen: Primary | None = None
    error: str | None = None
    mapping: dict[DataKey, Path] = {}
    try:
        mapping = _mapping(data, base)
        config = load_task(source, functions=functions, num_fewshot=num_fewshot)
        chosen = primary(config, metric, filter)
    except LmevalError as exc:
        error = str(exc)
    task_name = name or (config.name if config else source.stem)
    marker: dict[str, Any] = {}
    if chosen is not None:
        marker = {"metric": chosen.metric.name, "higher_is_better": chosen.metric.higher_is_better,
                  "score_range": sentence_scores(chosen.metric), "min_quality": min_quality, "weight": weight,
                  "budgets": budgets or {}, "requests": _requests}
        if config is not None and config.sampled:  # do_sample: the run's seeded samples, repeats per document
            marker.update(samples=config.repeats, temperature=config.temperature, top_p=config.top_p)
    imported = ImportedTask(source, config, chosen, mapping, limit, error, task_name, marker, demos)

    def record(llm_record: Any, case: LmevalCase, results: list[Any]) -> None:
        assert imported.task is not None and imported.chosen is not None
        out = score_case(imported.task, case, results, imported.chosen)
        extra: dict[str, Any] = {"doc_id": case.doc_id, "metrics": dict(out.scores), "responses": list(out.responses)}
        if out.filtered:
            extra["filtered"] = dict(out.filtered)
        if case.demo_ids:
            extra["fewshot_ids"] = list(case.demo_ids)
        llm_record(out.score, output=out.output, **extra)

    def run(llm: Any, requests: tuple[Any, ...]) -> list[Any]:
        if config is not None and config.sampled:  # each seeded from the run seed, the case id and its index
            return llm.samples(requests[0])
        return llm.run_many(list(requests))

    if demos is None:
        def test_lmeval(llm: Any, llm_record: Any, case: LmevalCase) -> None:
            record(llm_record, case, run(llm, case.requests))
    else:
        def test_lmeval(llm: Any, llm_record: Any, llm_demos: Any, case: LmevalCase) -> None:  # type: ignore[misc]
            record(llm_record, case, run(llm, case.with_demos(llm_demos.text)))

    test_lmeval.__doc__ = f"lm-eval task {task_name} from {source.name}"
    setattr(test_lmeval, ATTRIBUTE, imported)
    return test_lmeval


def _requests_with_demos(case: LmevalCase, demos: Any) -> list[Any]:
    return list(case.with_demos(demos.text))


def _requests(case: LmevalCase) -> list[Any]:
    return list(case.requests)
