"""A task's documents turned into cases: the requests each makes, and how its results are scored."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from pytest_llmselect.backends.base import GenerateRequest, LoglikelihoodRequest, LoglikelihoodResult
from pytest_llmselect.lmeval import scoring
from pytest_llmselect.lmeval.config import MetricSpec, TaskConfig
from pytest_llmselect.lmeval.docs import DataKey, has_split, load_split
from pytest_llmselect.lmeval.prompt import Renderer, Sampler, demonstration, fewshot_context
from pytest_llmselect.lmeval.yamlfile import LmevalError


@dataclass(frozen=True)
class LmevalCase:
    """One document of an imported task: its requests and what scoring it needs."""

    task: str
    doc_id: int
    requests: tuple[Any, ...]
    gold: Any = None
    choices: tuple[str, ...] | None = None
    target: str | None = None
    many_targets: bool = False
    demo_ids: tuple[int, ...] = ()
    doc: Mapping[str, Any] = field(default_factory=dict, compare=False)  # for the task's own process_results
    head: str = ""                 # the description before any demonstration
    turns: tuple[str, ...] = ()    # the question after them (one per context)

    def with_demos(self, text: str) -> tuple[Any, ...]:
        """The requests with ``text`` (a DemoPool's demonstrations) between the description and the question."""
        if not self.turns:
            return self.requests
        contexts = [self.head + text + t for t in self.turns]
        out = []
        for i, req in enumerate(self.requests):
            ctx = contexts[i] if len(contexts) > 1 else contexts[0]
            out.append(dataclasses.replace(req, prompt=ctx) if isinstance(req, GenerateRequest)
                       else dataclasses.replace(req, context=ctx))
        return tuple(out)

    def __repr__(self) -> str:  # pytest shows parameters by id; keep tracebacks short
        return f"LmevalCase({self.task!r}, doc {self.doc_id})"


@dataclass(frozen=True)
class Outcome:
    score: float
    output: Any
    scores: Mapping[str, Any]        # "metric,filter" -> the document's value or aggregation item
    filtered: Mapping[str, Any] = field(default_factory=dict)
    responses: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Primary:
    """The (metric, filter) whose per-document value is the case's score."""

    metric: MetricSpec
    filter: str

    @property
    def key(self) -> str:
        return f"{self.metric.name},{self.filter}"


def primary(task: TaskConfig, metric: str | None, filter_name: str | None) -> Primary:
    filters = [p.name for p in task.filters]
    if filter_name is not None and filter_name not in filters:
        raise LmevalError(f"task {task.name!r}: no filter {filter_name!r} (it has {', '.join(filters)})")
    names = [m.name for m in task.metrics]
    if metric is not None and metric not in names:
        raise LmevalError(f"task {task.name!r}: no metric {metric!r} (it has {', '.join(names)})")
    candidates = [m for m in task.metrics if (metric is None or m.name == metric) and m.name not in ("f1", "mcc")]
    if not candidates:
        raise LmevalError(f"task {task.name!r}: metric {metric or names[0]!r} has no per-document value; "
                          f"choose one with lmeval_suite(metric=...) among {', '.join(names)}")
    return Primary(candidates[0], filter_name or filters[0])


def _docs(task: TaskConfig, split: str, mapping: Mapping[DataKey, Path], process: Any) -> Any:
    ds = load_split(task, split, mapping)
    return process(ds) if process is not None else ds


def _fewshot_pool(task: TaskConfig, mapping: Mapping[DataKey, Path]) -> list[dict[str, Any]] | None:
    fs = task.fewshot
    if fs.split is not None:
        return [dict(d) for d in _docs(task, fs.split, mapping, fs.process_docs)]
    if fs.samples is not None:
        return [dict(d) for d in fs.samples]
    for split in (task.training_split, task.validation_split, task.test_split):
        if split is not None:
            if not has_split(task, split, mapping) and split != task.eval_split:
                continue
            return [dict(d) for d in _docs(task, split, mapping, task.process_docs)]
    return None


def build_cases(task: TaskConfig, mapping: Mapping[DataKey, Path] | None = None, *,
                limit: int | None = None) -> list[LmevalCase]:
    """Every evaluation document of ``task`` (the first ``limit``) as a case, in document order:
    the few-shot sampler draws in this order, so the prompts are lm-eval's."""
    mapping = mapping or {}
    dataset = _docs(task, task.eval_split, mapping, task.process_docs)
    features = list(getattr(dataset, "column_names", None) or (list(dataset[0]) if len(dataset) else []))
    docs = [dict(d) for d in dataset]
    if not docs:
        raise LmevalError(f"{task.source}: task {task.name!r}: split {task.eval_split!r} has no documents")
    if limit is not None:
        docs = docs[:limit]
    render = Renderer(task, features)
    sampler = None
    pool: list[dict[str, Any]] = []
    if task.num_fewshot > 0:
        found = _fewshot_pool(task, mapping)
        if not found:
            raise LmevalError(f"{task.source}: task {task.name!r}: num_fewshot={task.num_fewshot} but no "
                              "few-shot documents (set fewshot_split or map a training split)")
        pool = found
        sampler = Sampler(task.fewshot, pool)
    first = docs[0]
    multiple_input = (task.doc_to_choice is not None and task.output_type == "multiple_choice"
                      and isinstance(render.text(first), int))
    many_targets = isinstance(render.target(first), list)
    if task.output_type != "generate_until" and any(p.steps != (("take_first", {}),) for p in task.filters):
        raise LmevalError(f"{task.source}: task {task.name!r}: filters other than take_first on "
                          f"{task.output_type} are not supported")
    positions = {id(d): i for i, d in enumerate(pool)}
    return [_case(task, render, i, doc, sampler, multiple_input, many_targets, positions) for i, doc in enumerate(docs)]


def _query(case: LmevalCase) -> str:
    """What a demonstration strategy compares with the pool's questions: the case's own question."""
    return case.turns[0] if case.turns else ""


def build_demo_pool(task: TaskConfig, mapping: Mapping[DataKey, Path] | None, default: str) -> Any:
    """The task's few-shot documents (fewshot_split, fewshot_config.samples, or lm-eval's fallback
    splits) as a DemoPool, each written as lm-eval writes a demonstration, so the run's
    ``--llm-demos`` strategies choose them instead of lm-eval's sampler."""
    from pytest_llmselect.demos import DemoPool

    found = _fewshot_pool(task, mapping or {})
    if not found:
        raise LmevalError(f"{task.source}: task {task.name!r}: demos need few-shot documents (set fewshot_split, "
                          "or map a training split)")
    render = Renderer(task, list(found[0]))
    multiple_input = (task.doc_to_choice is not None and task.output_type == "multiple_choice"
                      and isinstance(render.text(found[0]), int))
    rows = []
    for i, shot in enumerate(found):
        question, text = demonstration(task, render, shot, multiple_input)
        label = render.target(shot, task.fewshot.doc_to_target)
        rows.append({"id": f"shot-{i}", "input": question, "demo": text, "label": str(label)})
    return DemoPool(rows, template="{demo}", input="input", label="label", query=_query, default=default)


def _case(task: TaskConfig, render: Renderer, doc_id: int, doc: dict[str, Any], sampler: Sampler | None,
          multiple_input: bool, many_targets: bool, positions: dict[int, int]) -> LmevalCase:
    kind = task.output_type
    if kind == "loglikelihood_rolling":  # the whole document is scored on its own: no prompt, no demonstrations
        target = str(render.target(doc))
        return LmevalCase(task.name, doc_id, (LoglikelihoodRequest("", target),), target=target, doc=doc)
    ctx = fewshot_context(task, render, doc, sampler, multiple_input, lambda d: positions.get(id(d), -1))
    parts = {"demo_ids": ctx.demo_ids, "doc": doc, "head": ctx.head, "turns": ctx.turns}
    if kind == "multiple_choice":
        choices = tuple(str(c) for c in render.choice(doc))
        if not choices:
            raise LmevalError(f"task {task.name!r}: document {doc_id} has no choices")
        if multiple_input:
            cont = f"{task.target_delimiter}{render.target(doc)}"
            requests = tuple(LoglikelihoodRequest(c, cont) for c in ctx.contexts)
            gold = scoring.gold_index(render.text(doc), choices)
        else:
            requests = tuple(LoglikelihoodRequest(ctx.contexts[0], f"{task.target_delimiter}{c}") for c in choices)
            gold = scoring.gold_index(render.target(doc), list(choices))
        return LmevalCase(task.name, doc_id, requests, gold=_jsonable(gold), choices=choices, **parts)
    if kind == "generate_until":
        gold = render.target(doc)
        if task.doc_to_choice is not None:
            gold = render.choice(doc)[gold]
        elif many_targets:
            gold = list(gold)
        req = GenerateRequest(ctx.contexts[0], max_new_tokens=task.max_gen_toks, stop=task.until)
        # sampled: one request, which the run expands into ``repeats`` seeded samples (llm_task(samples=...))
        return LmevalCase(task.name, doc_id, (req,) if task.sampled else (req,) * task.repeats, gold=_jsonable(gold),
                          many_targets=many_targets, **parts)
    target = str(render.target(doc))
    return LmevalCase(task.name, doc_id, (LoglikelihoodRequest(ctx.contexts[0], target),), target=target, **parts)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if hasattr(value, "item"):  # a numpy scalar
        return _jsonable(value.item())
    return str(value)


def score_case(task: TaskConfig, case: LmevalCase, results: Sequence[Any], chosen: Primary) -> Outcome:
    """Score one document from its requests' results, as lm-eval's process_results does."""
    kind = task.output_type
    scores: dict[str, Any] = {}
    filtered: dict[str, Any] = {}
    if kind == "generate_until":
        texts = [r if isinstance(r, str) else r.text for r in results]  # llm.samples gives texts
        for pipe in task.filters:
            value = scoring.run_pipeline(pipe, texts, case.doc)
            filtered[pipe.name] = value
            values = (_custom(task, case, [value]) if task.process_results is not None
                      else scoring.generation(value, case.gold, case.many_targets, task.metrics))
            for name, v in values.items():
                scores[f"{name},{pipe.name}"] = v
        output: Any = filtered[chosen.filter]
        responses: tuple[Any, ...] = tuple(texts)
    else:
        lls = [_ll(r).logprob for r in results]
        greedy = [_ll(r).is_greedy for r in results]
        if task.process_results is not None:
            values = _custom(task, case, [ll if kind == "loglikelihood_rolling" else (ll, g)
                                          for ll, g in zip(lls, greedy)])
            output = lls[0] if len(lls) == 1 else scoring.argmax(lls)
        elif kind == "multiple_choice":
            assert case.choices is not None
            values = scoring.multiple_choice(lls, greedy, case.choices, case.gold, task.metrics)
            pred = scoring.argmax(lls)
            output = case.choices[pred] if len(results) == len(case.choices) else pred
        elif kind == "loglikelihood":
            values = scoring.loglikelihood(lls[0], greedy[0], task.metrics)
            output = lls[0]
        else:
            assert case.target is not None
            values = scoring.rolling(lls[0], case.target, task.metrics)
            output = lls[0]
        for pipe in task.filters:
            scores.update({f"{name},{pipe.name}": v for name, v in values.items()})
        responses = tuple([ll, g] for ll, g in zip(lls, greedy))
    score = scoring.document_score(chosen.metric, scores[chosen.key])
    return Outcome(score, output, scores, filtered, responses)


def _custom(task: TaskConfig, case: LmevalCase, results: list[Any]) -> dict[str, Any]:
    assert task.process_results is not None
    out = task.process_results(dict(case.doc), results)
    if not isinstance(out, Mapping):
        raise LmevalError(f"task {task.name!r}: process_results returned {type(out).__name__}, not a dict of metrics")
    return {str(k): _jsonable(v) for k, v in out.items()}


def _ll(result: Any) -> LoglikelihoodResult:
    if not isinstance(result, LoglikelihoodResult):
        raise LmevalError(f"expected a log-likelihood result, got {type(result).__name__}")
    return result
