"""lm-eval's prompt semantics for plain-text (non-chat) models: ``doc_to_*`` resolution with
its Jinja2 environment, the few-shot samplers and the context a document's requests get."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import lru_cache
from random import Random
from typing import Any, Callable, Mapping, Sequence

import jinja2

from pytest_llmselect.lmeval.config import FewshotSpec, TaskConfig
from pytest_llmselect.lmeval.yamlfile import LmevalError

FEWSHOT_SEED = 1234  # lm-eval's default --fewshot_random_seed


def regex_replace(string: str, pattern: str, repl: str, count: int = 0) -> str:
    """lm-eval's Jinja filter: ``re.sub`` as ``{{ text | regex_replace('a', 'b') }}``."""
    return re.sub(pattern, repl, string, count=count)


_ENV = jinja2.Environment(loader=jinja2.BaseLoader(), undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
_ENV.filters["regex_replace"] = regex_replace


@lru_cache(maxsize=4096)
def _template(source: str) -> jinja2.Template:
    return _ENV.from_string(source)


def apply_template(source: str, doc: Mapping[str, Any]) -> str:
    """Render ``source`` with the document's fields as variables (lm-eval's ``utils.apply_template``)."""
    return _template(source).render(**doc)


def _index(text: str) -> Any:
    """A rendered all-digit string as lm-eval reads it (``ast.literal_eval``): an index into the choices."""
    try:
        return ast.literal_eval(text)
    except (SyntaxError, ValueError):  # digits Python does not read as a number ("²"): keep the text
        return text


class Renderer:
    """``doc_to_text`` / ``doc_to_target`` / ``doc_to_choice`` as lm-eval's ConfigurableTask computes them.

    ``features`` are the dataset's column names: a ``doc_to_*`` string that names a column
    reads it, anything else is a Jinja2 template."""

    def __init__(self, task: TaskConfig, features: Sequence[str]) -> None:
        self.task = task
        self.features = frozenset(features)

    def _render(self, what: str, spec: str, doc: Mapping[str, Any]) -> str:
        try:
            return apply_template(spec, doc)
        except jinja2.TemplateError as exc:
            raise LmevalError(f"task {self.task.name!r}: {what} {spec[:60]!r}: {type(exc).__name__}: "
                              f"{(str(exc).splitlines() or [''])[0]}") from None
        except (TypeError, ValueError, re.error, AttributeError, KeyError, IndexError) as exc:
            raise LmevalError(f"task {self.task.name!r}: {what} {spec[:60]!r} failed: {type(exc).__name__}: {exc}") from None

    def text(self, doc: Mapping[str, Any], spec: Any = None) -> Any:
        spec = self.task.doc_to_text if spec is None else spec
        if isinstance(spec, int):
            return spec
        if isinstance(spec, str):
            if spec in self.features:
                return doc[spec]
            out = self._render("doc_to_text", spec, doc)
            return _index(out) if out.isdigit() and self.task.doc_to_choice is not None else out
        if callable(spec):
            return spec(doc)
        raise LmevalError(f"task {self.task.name!r}: doc_to_text is not set")

    def target(self, doc: Mapping[str, Any], spec: Any = None) -> Any:
        spec = self.task.doc_to_target if spec is None else spec
        if isinstance(spec, int):
            return spec
        if isinstance(spec, str):
            if spec in self.features:
                return doc[spec]
            out = self._render("doc_to_target", spec, doc)
            if out.isdigit() and self.task.doc_to_choice is not None:
                return _index(out)
            if len(out) >= 2 and out[0] == "[" and out[-1] == "]":
                try:
                    return ast.literal_eval(out)
                except (SyntaxError, ValueError):
                    return out
            return out
        if isinstance(spec, list):
            return spec
        if callable(spec):
            return spec(doc)
        raise LmevalError(f"task {self.task.name!r}: doc_to_target is not set")

    def choice(self, doc: Mapping[str, Any], spec: Any = None) -> list[Any]:
        spec = self.task.doc_to_choice if spec is None else spec
        if isinstance(spec, str):
            if spec in self.features:
                return doc[spec]
            rendered = self._render("doc_to_choice", spec, doc)
            try:
                return ast.literal_eval(rendered)
            except (SyntaxError, ValueError) as exc:
                raise LmevalError(f"task {self.task.name!r}: doc_to_choice rendered {rendered[:80]!r}, "
                                  f"not a Python list ({type(exc).__name__})") from None
        if isinstance(spec, list):
            return spec
        if isinstance(spec, dict):
            return list(spec.values())
        if callable(spec):
            return spec(doc)
        raise LmevalError(f"task {self.task.name!r}: doc_to_choice is not set")

    def field(self, doc: Mapping[str, Any], spec: str | None) -> str | None:
        """lm-eval's ``resolve_field``: a column's value, else the rendered template."""
        if not spec:
            return None
        return doc[spec] if spec in doc else self._render("template", spec, doc)


def maybe_delimit(prefix: str | None, suffix: str | None, delimiter: str = " ") -> str:
    if not prefix:
        return suffix or ""
    if not suffix:
        return prefix or ""
    return prefix + delimiter + suffix if not (prefix[-1].isspace() or suffix[0].isspace()) else prefix + suffix


def _requires_delimiter(prefix: str, suffix: str) -> bool:
    return prefix != "" and not (prefix[-1].isspace() or suffix[0].isspace())


def qa_turn(q: Any, c: list[Any] | None, a: Any, gen_prefix: str | None, tgt_delim: str, few_delim: str,
            task: str) -> str:
    """One question (and its answer, for a demonstration) as text: lm-eval's ``build_qa_turn``
    rendered without a chat template."""
    if not isinstance(q, str):
        raise LmevalError(f"task {task!r}: doc_to_text gave {q!r} ({type(q).__name__}), not a string")
    has_answer = a is not None and a != ""
    if has_answer and not gen_prefix:
        delim = tgt_delim
    elif gen_prefix and _requires_delimiter(q, gen_prefix):
        delim = tgt_delim
    else:
        delim = ""
    out = q + delim
    if has_answer:
        answer = c[a] if (c and isinstance(a, int)) else a[0] if isinstance(a, list) else a
        if not isinstance(answer, str):
            raise LmevalError(f"task {task!r}: a demonstration's answer is {answer!r} "
                              f"({type(answer).__name__}), not a string")
        out += maybe_delimit(gen_prefix, answer, delimiter=" ") + few_delim
    elif gen_prefix:
        out += gen_prefix
    return out


class Sampler:
    """lm-eval's few-shot samplers: ``default`` draws with ``random.Random(1234)``, one generator
    for the whole task, in document order; ``first_n`` takes the pool's first n."""

    def __init__(self, spec: FewshotSpec, pool: list[dict[str, Any]], seed: int = FEWSHOT_SEED) -> None:
        self.kind = spec.sampler
        self.pool = pool
        self.indices = spec.indices
        self.rnd = Random(seed)

    def _docs(self) -> list[dict[str, Any]]:
        return [self.pool[i] for i in self.indices] if self.indices else list(self.pool)

    def sample(self, n: int, eval_doc: Mapping[str, Any] | None) -> list[dict[str, Any]]:
        if n == 0:
            return []
        if self.kind == "first_n":
            pool = [x for x in self.pool if x != eval_doc] if eval_doc is not None else self.pool
            if n > len(pool):
                raise LmevalError(f"first_n: {n} demonstrations asked, {len(pool)} in the few-shot pool")
            return list(pool[:n])
        docs = self._docs()
        if not docs:
            raise LmevalError("no documents in the few-shot pool")
        if eval_doc is None:
            return self.rnd.sample(docs, n)
        res = [x for x in self.rnd.sample(docs, n + 1) if x != eval_doc][:n]
        if len(res) < n:
            res = self.rnd.sample([x for x in docs if x != eval_doc], n)
        return res


@dataclass(frozen=True)
class Context:
    """The prompt of one document: ``head`` (the description), ``demos`` (the demonstrations'
    text) and ``turns`` (the question; one per choice for a multiple-input task)."""

    head: str
    demos: str
    turns: tuple[str, ...]
    demo_ids: tuple[int, ...] = ()

    @property
    def contexts(self) -> tuple[str, ...]:
        return tuple(self.head + self.demos + t for t in self.turns)


def demonstration(task: TaskConfig, render: Renderer, shot: Mapping[str, Any], multiple_input: bool) -> tuple[str, str]:
    """One few-shot document written as lm-eval writes a demonstration: (its question, its whole text)."""
    fs = task.fewshot
    q = render.text(shot, fs.doc_to_text)
    c = render.choice(shot, fs.doc_to_choice) if fs.doc_to_choice is not None else None
    a = render.target(shot, fs.doc_to_target)
    if multiple_input:
        q, c = c[q], None
    return str(q), qa_turn(q, c, a, render.field(shot, fs.gen_prefix), fs.target_delimiter, fs.fewshot_delimiter,
                           task.name)


def fewshot_context(task: TaskConfig, render: Renderer, doc: Mapping[str, Any], sampler: Sampler | None,
                    multiple_input: bool, pool_index: Callable[[Any], int] | None = None) -> Context:
    """lm-eval's ``fewshot_context`` for a plain-text model: description, demonstrations, question."""
    head = render.field(doc, task.description) or ""
    demos = ""
    ids: list[int] = []
    if task.num_fewshot > 0:
        if sampler is None:
            raise LmevalError(f"task {task.name!r}: num_fewshot={task.num_fewshot} but no few-shot documents")
        eval_doc = doc if task.fewshot.split == task.test_split else None
        for shot in sampler.sample(task.num_fewshot, eval_doc):
            demos += demonstration(task, render, shot, multiple_input)[1]
            if pool_index is not None:
                ids.append(pool_index(shot))
    gen_prefix = render.field(doc, task.gen_prefix)
    if multiple_input:
        choices = render.choice(doc)
        return Context(head, demos, tuple(qa_turn(c, None, None, gen_prefix, "", "", task.name) for c in choices),
                       tuple(ids))
    q = render.text(doc)
    c = render.choice(doc) if task.doc_to_choice is not None else None
    if isinstance(q, int):  # an index into the choices (lm-eval renders that choice)
        q = c[q] if c is not None else str(q)
    return Context(head, demos, (qa_turn(q, c, None, gen_prefix, task.target_delimiter, "", task.name),), tuple(ids))
