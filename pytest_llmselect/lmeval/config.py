"""An lm-eval task file's fields, checked: what the importer supports, and one line for what it does not."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from pytest_llmselect.lmeval.yamlfile import FunctionRef, LmevalError, load_yaml, resolve_function

OUTPUT_TYPES = ("multiple_choice", "generate_until", "loglikelihood", "loglikelihood_rolling")

# lm-eval's DEFAULT_METRIC_REGISTRY: the metrics of a task without metric_list.
DEFAULT_METRICS = {
    "loglikelihood": ("perplexity", "acc"),
    "loglikelihood_rolling": ("word_perplexity", "byte_perplexity", "bits_per_byte"),
    "multiple_choice": ("acc", "acc_norm"),
    "generate_until": ("exact_match",),
}
# metric -> (output types it applies to, higher is better, its default aggregation)
METRIC_INFO: dict[str, tuple[tuple[str, ...], bool, str]] = {
    "acc": (("loglikelihood", "multiple_choice", "generate_until"), True, "mean"),
    "acc_norm": (("multiple_choice",), True, "mean"),
    "acc_bytes": (("multiple_choice",), True, "mean"),
    "exact_match": (("multiple_choice", "generate_until"), True, "mean"),
    "f1": (("multiple_choice", "generate_until"), True, "f1"),
    "mcc": (("multiple_choice",), True, "matthews_corrcoef"),
    "bleu": (("generate_until",), True, "bleu"),
    "chrf": (("generate_until",), True, "chrf"),
    "ter": (("generate_until",), False, "ter"),
    "perplexity": (("loglikelihood",), False, "perplexity"),
    "word_perplexity": (("loglikelihood_rolling",), False, "weighted_perplexity"),
    "byte_perplexity": (("loglikelihood_rolling",), False, "weighted_perplexity"),
    "bits_per_byte": (("loglikelihood_rolling",), False, "bits_per_byte"),
}
AGGREGATIONS = ("mean", "median", "perplexity", "weighted_perplexity", "bits_per_byte", "f1",
                "matthews_corrcoef", "bleu", "chrf", "ter")
EXACT_MATCH_OPTIONS = ("regexes_to_ignore", "ignore_case", "ignore_punctuation", "ignore_numbers")
FILTERS = ("take_first", "take_first_k", "regex", "multi_choice_regex", "remove_whitespace", "lowercase", "uppercase",
           "majority_vote")
# On a generation lm-eval's acc and f1 pass the (gold, output) pair through to the aggregation:
# one that takes text labels works (matthews_corrcoef, or the task's own function); the mean of
# pairs, and sklearn's binary f1 of text labels, fail in lm-eval.
PAIR_AGGREGATIONS = ("matthews_corrcoef",)
GENERATION_KEYS = ("until", "max_gen_toks", "max_new_tokens", "do_sample", "temperature", "top_p", "top_k", "num_beams")
# Read and used, or harmless to ignore (bookkeeping that does not change a prompt or a score).
IGNORED = ("task_alias", "tag", "metadata", "should_decontaminate", "doc_to_decontamination_query", "group_alias")
FIELDS = ("task", "dataset_path", "dataset_name", "dataset_kwargs", "training_split", "validation_split",
          "test_split", "fewshot_split", "process_docs", "doc_to_text", "doc_to_target", "doc_to_choice",
          "description", "target_delimiter", "fewshot_delimiter", "gen_prefix", "fewshot_config", "num_fewshot",
          "metric_list", "output_type", "generation_kwargs", "repeats", "filter_list", "unsafe_code",
          "process_results", *IGNORED)
FEWSHOT_FIELDS = ("sampler", "split", "process_docs", "fewshot_indices", "samples", "doc_to_text", "doc_to_choice",
                  "doc_to_target", "gen_prefix", "fewshot_delimiter", "target_delimiter")
DEFAULT_MAX_GEN_TOKS = 256


@dataclass(frozen=True)
class MetricSpec:
    name: str
    aggregation: Any  # a name in AGGREGATIONS, or the task folder's function of the items
    higher_is_better: bool
    kwargs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FilterPipeline:
    name: str
    steps: tuple[tuple[str, Mapping[str, Any]], ...]


@dataclass(frozen=True)
class FewshotSpec:
    sampler: str
    split: str | None
    process_docs: Callable[..., Any] | None
    indices: tuple[int, ...] | None
    samples: tuple[Mapping[str, Any], ...] | None
    doc_to_text: Any
    doc_to_choice: Any
    doc_to_target: Any
    gen_prefix: str | None
    fewshot_delimiter: str
    target_delimiter: str


@dataclass(frozen=True)
class TaskConfig:
    """One leaf task, with lm-eval's defaults filled in and every function resolved."""

    name: str
    source: Path
    output_type: str
    dataset_path: str | None
    dataset_name: str | None
    dataset_kwargs: Mapping[str, Any]
    training_split: str | None
    validation_split: str | None
    test_split: str | None
    fewshot_split: str | None
    process_docs: Callable[..., Any] | None
    doc_to_text: Any
    doc_to_target: Any
    doc_to_choice: Any
    description: str
    target_delimiter: str
    fewshot_delimiter: str
    gen_prefix: str | None
    num_fewshot: int
    fewshot: FewshotSpec
    metrics: tuple[MetricSpec, ...]
    until: tuple[str, ...]
    max_gen_toks: int
    repeats: int
    filters: tuple[FilterPipeline, ...]
    # the task folder's own scoring, ``process_results(doc, results) -> {metric: value}``, as lm-eval calls it
    process_results: Callable[..., Any] | None = None
    # generation_kwargs' sampling (do_sample: true): each of the ``repeats`` generations is a
    # seeded sample; 0.0: greedy
    temperature: float = 0.0
    top_p: float = 1.0

    @property
    def sampled(self) -> bool:
        return self.output_type == "generate_until" and self.temperature > 0

    @property
    def eval_split(self) -> str:
        split = self.test_split or self.validation_split
        if split is None:
            raise LmevalError(f"{self.source}: task {self.name!r} has neither test_split nor validation_split")
        return split


def _fail(src: Path, task: str, what: str) -> LmevalError:
    return LmevalError(f"{src}: task {task!r}: {what}")


def _fn(value: Any) -> Any:
    return resolve_function(value) if isinstance(value, FunctionRef) else value


def _text(raw: Mapping[str, Any], key: str, default: str | None, src: Path, task: str) -> Any:
    value = raw.get(key, default)
    if value is not None and not isinstance(value, str):
        raise _fail(src, task, f"{key} must be a string, got {value!r}")
    return value


def _doc_field(raw: Mapping[str, Any], key: str, src: Path, task: str, *, functions: bool) -> Any:
    value = raw.get(key)
    if isinstance(value, FunctionRef):
        if not functions:
            raise _fail(src, task, f"{key}: {value} runs the task folder's code, which this import does not allow")
        return resolve_function(value)
    if value is None or isinstance(value, (str, list, dict)) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise _fail(src, task, f"{key} must be a template, a field name, a list or !function, got {value!r}")


def _metrics(raw: Mapping[str, Any], output_type: str, src: Path, task: str,
             custom: bool = False, functions: bool = True) -> tuple[MetricSpec, ...]:
    """``custom``: the task has its own process_results, which computes the metrics by name."""
    entries = raw.get("metric_list")
    if entries is None:
        return tuple(MetricSpec(m, METRIC_INFO[m][2], METRIC_INFO[m][1]) for m in DEFAULT_METRICS[output_type])
    if not isinstance(entries, list) or not entries:
        raise _fail(src, task, f"metric_list must be a non-empty list, got {entries!r}")
    out = []
    for entry in entries:
        if not isinstance(entry, dict) or "metric" not in entry:
            raise _fail(src, task, f"every metric_list entry needs a 'metric', got {entry!r}")
        name = entry["metric"]
        if custom and isinstance(name, str) and name:
            types, hib, agg = METRIC_INFO.get(name, ((output_type,), True, entry.get("aggregation")))
            if agg is None:
                raise _fail(src, task, f"metric {name!r} of process_results needs an aggregation")
        elif isinstance(name, FunctionRef) or name not in METRIC_INFO:
            raise _fail(src, task, f"metric {str(name)!r} is not supported (supported: {', '.join(METRIC_INFO)})")
        else:
            types, hib, agg = METRIC_INFO[name]
        if output_type not in types and not custom:
            raise _fail(src, task, f"metric {name!r} does not apply to output_type {output_type!r}")
        # lm-eval calls a metric's function (an HF evaluate one here) only for generate_until
        if entry.get("hf_evaluate") and output_type == "generate_until":
            raise _fail(src, task, f"metric {name!r}: hf_evaluate is not supported")
        agg = entry.get("aggregation", agg)
        if isinstance(agg, FunctionRef):
            if not functions:
                raise _fail(src, task, f"metric {name!r}: aggregation {agg} runs the task folder's code, which this "
                                       "import does not allow")
            agg = resolve_function(agg)
        elif not isinstance(agg, str) or agg not in AGGREGATIONS:
            raise _fail(src, task, f"metric {name!r}: aggregation {str(agg)!r} is not supported")
        if (name in ("acc", "f1") and output_type == "generate_until" and not custom and not callable(agg)
                and agg not in PAIR_AGGREGATIONS):
            raise _fail(src, task, f"metric {name!r} on generate_until: aggregation {agg!r} of (gold, output) pairs "
                                   f"fails in lm-eval too; use {' or '.join(PAIR_AGGREGATIONS)} or a !function")
        hib = entry.get("higher_is_better", hib)
        if not isinstance(hib, bool):
            raise _fail(src, task, f"metric {name!r}: higher_is_better must be true or false, got {hib!r}")
        kwargs = {k: v for k, v in entry.items() if k not in ("metric", "aggregation", "higher_is_better", "hf_evaluate")}
        # lm-eval hands a metric's options only to generate_until's exact_match; elsewhere it ignores them
        checked = name == "exact_match" and output_type == "generate_until" and not custom
        unknown = [k for k in kwargs if k not in EXACT_MATCH_OPTIONS] if checked else []
        if unknown:
            raise _fail(src, task, f"metric {name!r}: option {unknown[0]!r} is not supported")
        out.append(MetricSpec(name, agg, hib, kwargs))
    return tuple(out)


def _filters(raw: Mapping[str, Any], src: Path, task: str) -> tuple[FilterPipeline, ...]:
    entries = raw.get("filter_list")
    if entries is None:
        return (FilterPipeline("none", (("take_first", {}),)),)
    if not isinstance(entries, list) or not entries:
        raise _fail(src, task, f"filter_list must be a non-empty list, got {entries!r}")
    out = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not isinstance(entry.get("filter"), list):
            raise _fail(src, task, f"every filter_list entry needs a name and a filter list, got {entry!r}")
        steps = []
        for step in entry["filter"]:
            fn = step.get("function") if isinstance(step, dict) else None
            if isinstance(fn, FunctionRef) or fn not in FILTERS:
                raise _fail(src, task, f"filter {str(fn)!r} (in {entry['name']!r}) is not supported "
                                       f"(supported: {', '.join(FILTERS)})")
            steps.append((fn, {k: v for k, v in step.items() if k != "function"}))
        out.append(FilterPipeline(entry["name"], tuple(steps)))
    return tuple(out)


@dataclass(frozen=True)
class Generation:
    until: tuple[str, ...]
    max_gen_toks: int
    temperature: float = 0.0   # > 0: sampled (do_sample: true), else greedy
    top_p: float = 1.0


def _number(kwargs: Mapping[str, Any], key: str, default: float, src: Path, task: str) -> float:
    value = kwargs.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise _fail(src, task, f"generation_kwargs.{key} must be a non-negative number, got {value!r}")
    return float(value)


def _generation(raw: Mapping[str, Any], fewshot_delimiter: str, src: Path, task: str) -> Generation:
    """lm-eval's HF model semantics: ``do_sample: true`` samples (temperature 1.0 unless given),
    ``do_sample: false`` is greedy whatever the temperature, ``max_new_tokens`` overrides
    ``max_gen_toks``, ``num_beams: 1`` is greedy search."""
    kwargs = raw.get("generation_kwargs")
    if kwargs is None:
        return Generation((fewshot_delimiter,), DEFAULT_MAX_GEN_TOKS)
    if not isinstance(kwargs, dict):
        raise _fail(src, task, f"generation_kwargs must be a mapping, got {kwargs!r}")
    unknown = [k for k in kwargs if k not in GENERATION_KEYS]
    if unknown:
        raise _fail(src, task, f"generation_kwargs: {unknown[0]!r} is not supported")
    beams = kwargs.get("num_beams", 1)
    if beams != 1:
        raise _fail(src, task, f"generation_kwargs: num_beams: {beams!r} (beam search) is not supported; "
                               "the candidates generate greedily or by sampling")
    do_sample = kwargs.get("do_sample")
    if do_sample not in (None, True, False):
        raise _fail(src, task, f"generation_kwargs.do_sample must be true or false, got {do_sample!r}")
    temperature = _number(kwargs, "temperature", 1.0 if do_sample else 0.0, src, task)
    top_p = _number(kwargs, "top_p", 1.0, src, task)
    if kwargs.get("top_k") not in (None, 0) and do_sample:
        raise _fail(src, task, "generation_kwargs: top_k sampling is not supported (temperature and top_p are)")
    if do_sample is None and temperature > 0:
        raise _fail(src, task, "generation_kwargs: temperature > 0 without do_sample: lm-eval leaves greedy or "
                               "sampled to the model's own generation config; say do_sample: true or false")
    if do_sample and (temperature == 0 or not 0 < top_p <= 1):
        raise _fail(src, task, f"generation_kwargs: do_sample: true needs temperature > 0 and 0 < top_p <= 1, "
                               f"got temperature {temperature:g}, top_p {top_p:g}")
    until = kwargs.get("until", [fewshot_delimiter])
    until = [until] if isinstance(until, str) else (until or [])
    if not all(isinstance(u, str) for u in until):
        raise _fail(src, task, f"generation_kwargs.until must be strings, got {until!r}")
    key = "max_new_tokens" if "max_new_tokens" in kwargs else "max_gen_toks"
    max_gen = kwargs.get(key, DEFAULT_MAX_GEN_TOKS)
    if isinstance(max_gen, bool) or not isinstance(max_gen, int) or max_gen < 1:
        raise _fail(src, task, f"generation_kwargs.{key} must be a positive integer, got {max_gen!r}")
    return Generation(tuple(until), max_gen, temperature if do_sample else 0.0, top_p if do_sample else 1.0)


def _fewshot(raw: Mapping[str, Any], base: dict[str, Any], src: Path, task: str, functions: bool) -> FewshotSpec:
    cfg = raw.get("fewshot_config") or {}
    if not isinstance(cfg, dict):
        raise _fail(src, task, f"fewshot_config must be a mapping, got {cfg!r}")
    unknown = [k for k in cfg if k not in FEWSHOT_FIELDS]
    if unknown:
        raise _fail(src, task, f"fewshot_config.{unknown[0]} is not supported")
    sampler = cfg.get("sampler", "default")
    if sampler not in ("default", "first_n"):
        raise _fail(src, task, f"fewshot_config.sampler {str(sampler)!r} is not supported (default, first_n)")
    samples = cfg.get("samples")
    if isinstance(samples, FunctionRef):
        if not functions:
            raise _fail(src, task, f"fewshot_config.samples: {samples} runs the task folder's code")
        samples = resolve_function(samples)()
    if samples is not None and not (isinstance(samples, list) and all(isinstance(s, dict) for s in samples)):
        raise _fail(src, task, "fewshot_config.samples must be a list of documents")
    indices = cfg.get("fewshot_indices")
    for key in ("doc_to_text", "doc_to_choice", "doc_to_target"):
        if key in cfg:
            base[key] = _doc_field(cfg, key, src, task, functions=functions)
    process = cfg.get("process_docs", raw.get("process_docs"))
    if isinstance(process, FunctionRef) and not functions:
        raise _fail(src, task, f"process_docs: {process} runs the task folder's code, which this import does not allow")
    return FewshotSpec(
        sampler=sampler, split=cfg.get("split", raw.get("fewshot_split")), process_docs=_fn(process),
        indices=tuple(indices) if indices is not None else None,
        samples=tuple(samples) if samples is not None else None,
        doc_to_text=base["doc_to_text"], doc_to_choice=base["doc_to_choice"], doc_to_target=base["doc_to_target"],
        gen_prefix=cfg.get("gen_prefix", base["gen_prefix"]),
        fewshot_delimiter=cfg.get("fewshot_delimiter", base["fewshot_delimiter"]),
        target_delimiter=cfg.get("target_delimiter", base["target_delimiter"]),
    )


def task_config(raw: Mapping[str, Any], source: Path, *, functions: bool = True,
                num_fewshot: int | None = None) -> TaskConfig:
    """Check ``raw`` (a merged task file) and fill in lm-eval's defaults. ``functions=False``
    refuses ``!function`` fields instead of running the task folder's code; ``num_fewshot``
    overrides the file's, as lm-eval's ``--num_fewshot`` does."""
    task = raw.get("task")
    if not isinstance(task, str) or not task:
        kind = "a group (task: is a list)" if isinstance(task, list) else f"no task name (task: {task!r})"
        raise LmevalError(f"{source}: not a single task: {kind}")
    for key in raw:
        if key not in FIELDS:
            raise _fail(source, task, f"field {key!r} is not supported")
    if raw.get("unsafe_code"):
        raise _fail(source, task, "unsafe_code tasks (they execute model output) are not supported")
    output_type = raw.get("output_type", "generate_until")
    if output_type not in OUTPUT_TYPES:
        raise _fail(source, task, f"output_type {output_type!r} is not supported ({', '.join(OUTPUT_TYPES)})")
    kwargs = raw.get("dataset_kwargs") or {}
    if not isinstance(kwargs, dict):
        raise _fail(source, task, f"dataset_kwargs must be a mapping, got {kwargs!r}")
    process = raw.get("process_docs")
    if isinstance(process, FunctionRef) and not functions:
        raise _fail(source, task, f"process_docs: {process} runs the task folder's code, which this import does not allow")
    if process is not None and not isinstance(process, FunctionRef):
        raise _fail(source, task, f"process_docs must be a !function, got {process!r}")
    custom = raw.get("process_results")
    if custom is not None:
        if not isinstance(custom, FunctionRef):
            raise _fail(source, task, f"process_results must be a !function, got {custom!r}")
        if not functions:
            raise _fail(source, task, f"process_results: {custom} runs the task folder's code, which this import "
                                      "does not allow")
    fewshot_delimiter = _text(raw, "fewshot_delimiter", "\n\n", source, task)
    base = {
        "doc_to_text": _doc_field(raw, "doc_to_text", source, task, functions=functions),
        "doc_to_target": _doc_field(raw, "doc_to_target", source, task, functions=functions),
        "doc_to_choice": _doc_field(raw, "doc_to_choice", source, task, functions=functions),
        "gen_prefix": _text(raw, "gen_prefix", None, source, task),
        "fewshot_delimiter": fewshot_delimiter,
        "target_delimiter": _text(raw, "target_delimiter", " ", source, task),
    }
    main = dict(base)
    fewshot = _fewshot(raw, base, source, task, functions)
    shots = raw.get("num_fewshot") if num_fewshot is None else num_fewshot
    shots = 0 if shots is None else shots
    if isinstance(shots, bool) or not isinstance(shots, int) or shots < 0:
        raise _fail(source, task, f"num_fewshot must be a non-negative integer, got {shots!r}")
    repeats = raw.get("repeats", 1)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise _fail(source, task, f"repeats must be a positive integer, got {repeats!r}")
    gen = _generation(raw, fewshot_delimiter, source, task)
    description = raw.get("description", "") or ""
    if not isinstance(description, str):
        raise _fail(source, task, f"description must be a string, got {description!r}")
    splits = {}
    for key in ("dataset_path", "dataset_name", "training_split", "validation_split", "test_split", "fewshot_split"):
        value = raw.get(key)
        if value is not None and not isinstance(value, str):
            raise _fail(source, task, f"{key} must be a string, got {value!r}")
        splits[key] = value
    return TaskConfig(
        name=task, source=source, output_type=output_type, dataset_kwargs=kwargs,
        process_docs=_fn(process), doc_to_text=main["doc_to_text"], doc_to_target=main["doc_to_target"],
        doc_to_choice=main["doc_to_choice"], description=description,
        target_delimiter=main["target_delimiter"], fewshot_delimiter=fewshot_delimiter,
        gen_prefix=main["gen_prefix"], num_fewshot=shots, fewshot=fewshot,
        metrics=_metrics(raw, output_type, source, task, custom is not None, functions), until=gen.until, max_gen_toks=gen.max_gen_toks,
        temperature=gen.temperature, top_p=gen.top_p, repeats=repeats,
        filters=_filters(raw, source, task), process_results=_fn(custom), **splits,
    )


def load_task(path: str | Path, *, functions: bool = True, num_fewshot: int | None = None) -> TaskConfig:
    """Read, merge and check the task file at ``path``; see :func:`task_config`."""
    p = Path(path).expanduser().resolve()
    try:
        return task_config(load_yaml(p), p, functions=functions, num_fewshot=num_fewshot)
    except LmevalError as exc:
        if str(p) in str(exc):
            raise
        raise LmevalError(f"{p}: {exc}") from None  # an included file's !function: name the task file too
