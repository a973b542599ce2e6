"""How many of lm-eval's own task files the importer reads and renders a document for.

    python benchmarks/lmeval_coverage.py [--tasks-dir DIR] [--sample N] [--out result.json]

Over the installed lm-eval's task folder (or ``--tasks-dir``): every YAML file whose merged
configuration (``include:`` chain resolved) names one task is a leaf task. Each is counted
twice:

- declarative: ``load_task(functions=False)`` accepts it (data fields, Jinja ``doc_to_*``,
  the four output types, built-in metrics and filters, ``fewshot_config``, ``repeats``) and
  a synthetic document renders to the requests a case would make;
- with utils.py: the same with the task folder's ``!function`` code executed
  (``process_docs``, ``doc_to_*``), as lm-eval executes it.

The datasets are not downloaded: the sample documents are synthetic, their fields found by
rendering and repairing (a field a template or function asks for is added, with a type
guessed from its name and changed when the rendering fails on it). No network: sockets
refuse to connect for the whole run, and the Hub libraries are told they are offline.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import os
import random
import re
import socket
import sys
import time
import warnings
from pathlib import Path
from typing import Any

os.environ.update(HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_llmselect.lmeval.build import _case  # noqa: E402
from pytest_llmselect.lmeval.config import TaskConfig, task_config  # noqa: E402
from pytest_llmselect.lmeval.prompt import Renderer, Sampler  # noqa: E402
from pytest_llmselect.lmeval.yamlfile import LmevalError, load_yaml  # noqa: E402

WORDS = ["A", "B", "C", "D"]  # a text field holds the first, so "answerKey in choices.label" style lookups work
TYPES = ("str", "int", "list", "dict", "intstr", "onestr", "one")
LISTY = re.compile(r"(choice|option|ending|answers|candidates|targets|labels|list|sentences|items|context)s?$", re.I)
INTY = re.compile(r"(label|gold|idx|index|answer_?key|target)$", re.I)
UNDEFINED = re.compile(r"'([A-Za-z_]\w*)' is undefined")
NO_ATTR = re.compile(r"has no attribute '(\w+)'")


class NoNetwork(OSError):
    pass


def _refuse(*args: Any, **kwargs: Any) -> None:
    raise NoNetwork("network access refused by lmeval_coverage.py")


def value(kind: str, dict_keys: list[str]) -> Any:
    if kind == "str":
        return WORDS[0]
    if kind == "int":
        return 0
    if kind == "intstr":
        return "0"
    if kind == "onestr":
        return "1"
    if kind == "one":
        return 1
    if kind == "list":
        return list(WORDS)
    return {k: list(WORDS) for k in dict_keys}


def guess(name: str, task: TaskConfig) -> str:
    if LISTY.search(name):
        return "list"
    if INTY.search(name) and task.output_type == "multiple_choice":
        return "int"
    return "str"


def synthetic_docs(kinds: dict[str, str], n: int, dict_keys: list[str], fixed: str | None = None) -> list[dict[str, Any]]:
    """``fixed``: every text field holds this string (a value a process_docs filter keeps). A
    ``_synthetic_id`` column keeps the documents apart (a few-shot pool drops copies of the one
    evaluated)."""
    return [{**{k: fixed if fixed is not None and kind == "str" else value(kind, dict_keys) for k, kind in kinds.items()},
             "_synthetic_id": i} for i in range(n)]


def string_constants(fn: Any) -> list[str]:
    """The strings a function (or a functools.partial of one) holds: candidates for the value a
    process_docs filter keeps, such as a subject name."""
    out: list[str] = []
    seen: set[int] = set()

    def walk(code: Any) -> None:
        if id(code) in seen:
            return
        seen.add(id(code))
        for const in code.co_consts:
            if isinstance(const, str) and 0 < len(const) < 60:
                out.append(const)
            elif hasattr(const, "co_consts"):
                walk(const)

    for value_ in [*getattr(fn, "args", ()), *getattr(fn, "keywords", {}).values()]:
        if isinstance(value_, str):
            out.append(value_)
    target = getattr(fn, "func", fn)
    if hasattr(target, "__code__"):
        walk(target.__code__)
    return list(dict.fromkeys(out))[:25]


def attempt(task: TaskConfig, kinds: dict[str, str], dict_keys: list[str]) -> None:
    n = max(6, task.num_fewshot + 2)
    raw = synthetic_docs(kinds, n, dict_keys)
    if task.process_docs is not None or task.fewshot.process_docs is not None:
        import datasets

        def as_dataset(rows: list[dict[str, Any]]) -> Any:
            return datasets.Dataset.from_list(rows) if rows and rows[0] else datasets.Dataset.from_dict({"_": list(range(n))})

        dataset = as_dataset(raw)
    docs = [dict(d) for d in task.process_docs(dataset)] if task.process_docs is not None else raw
    if not docs and task.process_docs is not None:  # a filter: try the strings the function holds
        for const in string_constants(task.process_docs):
            dataset = as_dataset(synthetic_docs(kinds, n, dict_keys, fixed=const))
            docs = [dict(d) for d in task.process_docs(dataset)]
            if docs:
                break
    if not docs:
        raise LmevalError("process_docs left no documents")
    render = Renderer(task, list(docs[0]))
    sampler = None
    if task.num_fewshot > 0:
        fs = task.fewshot
        if fs.samples is not None:
            pool = [dict(d) for d in fs.samples]
        elif fs.process_docs is not None:
            pool = [dict(d) for d in fs.process_docs(dataset)]
        else:
            pool = docs
        sampler = Sampler(fs, pool)
    multiple_input = (task.doc_to_choice is not None and task.output_type == "multiple_choice"
                      and isinstance(render.text(docs[0]), int))
    many = isinstance(render.target(docs[0]), list)
    case = _case(task, render, 0, docs[0], sampler, multiple_input, many, {})
    if not case.requests:
        raise LmevalError("no requests")


def _run(task: TaskConfig, kinds: dict[str, str], dict_keys: list[str]) -> BaseException | None:
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            attempt(task, kinds, dict_keys)
        return None
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the task's own code may raise (or exit) anything
        return exc


def _missing(exc: BaseException) -> str | None:
    found = UNDEFINED.search(str(exc))
    if found:
        return found.group(1)
    if isinstance(exc, KeyError) and exc.args and isinstance(exc.args[0], str):
        return exc.args[0]
    return None


IDENTIFIER = re.compile(r"^[A-Za-z_]\w*$")


def declared_fields(task: TaskConfig) -> dict[str, str]:
    """The fields the task's templates name, with guessed types: a bare name in doc_to_* is a
    column (lm-eval reads it when the dataset has it), and a template's free variables are too."""
    import jinja2
    from jinja2 import meta

    env = jinja2.Environment()
    out: dict[str, str] = {}
    specs = [("text", task.doc_to_text), ("target", task.doc_to_target), ("choice", task.doc_to_choice),
             ("text", task.fewshot.doc_to_text), ("target", task.fewshot.doc_to_target),
             ("choice", task.fewshot.doc_to_choice), ("text", task.description), ("text", task.gen_prefix)]
    for role, spec in specs:
        if not isinstance(spec, str) or not spec:
            continue
        if IDENTIFIER.match(spec):
            out.setdefault(spec, "list" if role == "choice" else
                           "int" if role == "target" and task.doc_to_choice is not None else "str")
            continue
        try:
            names = meta.find_undeclared_variables(env.parse(spec))
        except jinja2.TemplateError:
            continue
        for name in sorted(names):
            out.setdefault(name, guess(name, task))
    return out


def render_sample(task: TaskConfig, budget: int = 30) -> str | None:
    """None when a synthetic document renders; else the last error, in one line.

    A field a template or function asks for is added (type guessed from its name); on any
    other error each field's other types are tried, one change at a time, keeping a change
    that renders or that gets as far as asking for a new field."""
    kinds: dict[str, str] = declared_fields(task)
    dict_keys = ["text", "label"]
    exc = _run(task, kinds, dict_keys)
    while exc is not None and budget > 0:
        if isinstance(exc, NoNetwork):
            return "network access attempted"
        name = _missing(exc)
        if isinstance(exc, KeyError) and name is not None and name not in dict_keys:
            dict_keys.append(name)  # perhaps a key of a nested record ("translation": {"fr": ...})
        if name is not None and name not in kinds:
            kinds[name] = guess(name, task)
            exc = _run(task, kinds, dict_keys)
            budget -= 1
            continue
        attr = NO_ATTR.search(str(exc))
        if attr and attr.group(1) not in dict_keys and not hasattr(str, attr.group(1)) and not hasattr(list, attr.group(1)):
            dict_keys.append(attr.group(1))
        progress = None
        for field in reversed(list(kinds)):
            for kind in TYPES:
                if kind == kinds[field] or budget <= 0:
                    continue
                trial = {**kinds, field: kind}
                budget -= 1
                result = _run(task, trial, dict_keys)
                if result is None:
                    return None
                new = _missing(result)
                if progress is None and new is not None and new not in trial:
                    progress = (trial, result)
        if progress is None:
            break
        kinds, exc = progress
    if exc is None:
        return None
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"[:200]


def shape(task: TaskConfig) -> str:
    """What decides whether a synthetic document renders: the task without its name, data
    source and description text (per-language and per-subject variants share one shape)."""
    import jinja2
    from jinja2 import meta

    try:
        described = sorted(meta.find_undeclared_variables(jinja2.Environment().parse(task.description)))
    except jinja2.TemplateError:
        described = [task.description]
    fields = {k: v for k, v in vars(task).items() if k not in ("name", "source", "dataset_name", "description",
                                                                 "dataset_kwargs", "dataset_path")}
    return repr((sorted((k, repr(v)) for k, v in fields.items()), described))


def leaf_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.yaml") if not any(part.startswith(".") for part in p.relative_to(root).parts))


def bucket(message: str) -> str:
    message = re.sub(r"^/\S+: ", "", message)
    message = re.sub(r"^task '[^']*': ", "", message)
    message = re.sub(r"'[^']*\.(py|yaml)'|/\S+", "PATH", message)
    return message[:110]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks-dir", type=Path, default=None)
    parser.add_argument("--sample", type=int, default=None, help="a random sample of this many files (seed 0)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.tasks_dir is None:
        import lm_eval

        args.tasks_dir = Path(lm_eval.__file__).parent / "tasks"
    socket.socket.connect = _refuse  # type: ignore[method-assign]
    socket.create_connection = _refuse  # type: ignore[assignment]
    import datasets

    datasets.disable_progress_bars()
    datasets.disable_caching()
    # Fingerprints (a dill hash of every table and function) are most of the time a
    # two-row Dataset takes here, and nothing is cached: a random one does.
    import datasets.arrow_dataset
    import datasets.fingerprint

    for module in (datasets.fingerprint, datasets.arrow_dataset):
        for name in ("generate_fingerprint", "update_fingerprint"):
            if hasattr(module, name):
                setattr(module, name, lambda *a, **k: "%032x" % random.getrandbits(128))
    import logging

    logging.disable(logging.WARNING)
    files = leaf_files(args.tasks_dir)
    # In a random order (seed 0): the files done at any point are a uniform sample, so a run cut
    # short (--out is rewritten every 500 files) still estimates the shares without bias.
    files = random.Random(0).sample(files, min(args.sample or len(files), len(files)))
    started = time.perf_counter()
    counts: collections.Counter[str] = collections.Counter()
    reasons = {"declarative": collections.Counter(), "utils": collections.Counter()}
    per_task = {}
    memo: dict[str, str | None] = {}
    for done, path in enumerate(files):
        if args.out and done and done % 500 == 0:
            write(args.out, summarise(args.tasks_dir, done, counts, reasons, memo, started), per_task)
        try:
            raw = load_yaml(path)
        except LmevalError as exc:
            counts["unreadable"] += 1
            reasons["declarative"][bucket(str(exc))] += 1
            continue
        if not isinstance(raw.get("task"), str):
            counts["not a leaf task"] += 1
            continue
        counts["leaf"] += 1
        outcome = {}
        for mode, functions in (("declarative", False), ("utils", True)):
            try:
                with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    task = task_config(dict(raw), path, functions=functions)
                key = shape(task)
                if key not in memo:
                    memo[key] = render_sample(task)
                problem = memo[key]
            except LmevalError as exc:
                problem = str(exc)
            except (Exception, SystemExit) as exc:  # noqa: BLE001
                problem = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"
            if problem is None:
                counts[mode] += 1
            else:
                reasons[mode][bucket(problem)] += 1
            outcome[mode] = problem
        per_task[str(path.relative_to(args.tasks_dir))] = outcome
    summary = summarise(args.tasks_dir, len(files), counts, reasons, memo, started)
    leaf = summary["leaf_tasks"]
    print(f"lm-eval task files: {len(files)}; leaf tasks: {leaf}")
    print(f"declarative (no task-folder code): {counts['declarative']} ({summary['declarative_share']:.1%})")
    print(f"with utils.py executed:           {counts['utils']} ({summary['with_utils_share']:.1%})")
    for mode in ("declarative", "utils"):
        print(f"\nmost common reasons a task is not covered ({mode}):")
        for reason, n in reasons[mode].most_common(12):
            print(f"  {n:6d}  {reason}")
    print(f"\n{summary['seconds']:.0f} s")
    if args.out:
        write(args.out, summary, per_task)


def summarise(tasks_dir: Path, files: int, counts: collections.Counter, reasons: dict, memo: dict,
              started: float) -> dict[str, Any]:
    leaf = counts["leaf"] + counts["unreadable"]
    return {
        "tasks_dir": str(tasks_dir), "files": files, "leaf_tasks": leaf,
        "declarative": counts["declarative"], "with_utils": counts["utils"],
        "declarative_share": counts["declarative"] / leaf if leaf else 0.0,
        "with_utils_share": counts["utils"] / leaf if leaf else 0.0,
        "not_leaf": counts["not a leaf task"], "unreadable": counts["unreadable"],
        "seconds": round(time.perf_counter() - started, 1), "shapes_rendered": len(memo),
        "top_reasons": {m: r.most_common(15) for m, r in reasons.items()},
    }


def write(out: Path, summary: dict[str, Any], per_task: dict[str, Any]) -> None:
    out.write_text(json.dumps({**summary, "tasks": per_task}, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
