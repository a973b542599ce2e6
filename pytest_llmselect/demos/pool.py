"""A demonstration pool: the examples a task may put in front of a case, and how one is written.

Pure: no pytest, no torch. A pool is read once (a JSONL file or a list of dicts) and
fingerprinted by its contents, so on-disk caches keyed by it never serve another pool.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from pytest_llmselect.errors import DataError, SpecError
from pytest_llmselect.textnorm import normalize_text

ORDERS = ("auto", "similar_last", "as_drawn")
_SPACE = re.compile(r"\s+")


def normalize_input(text: str) -> str:
    """The form two inputs are compared in to call them duplicates: ``normalize_text`` (NFKC,
    default-ignorable code points such as a zero-width space or soft hyphen removed),
    case-folded, whitespace collapsed, stripped. ``"Paris  is\\n" -> "paris is"``."""
    return _SPACE.sub(" ", normalize_text(normalize_text(text).casefold())).strip()


@dataclass(frozen=True)
class Example:
    """One pool example: ``id`` (unique in the pool), ``input`` (the text strategies compare),
    ``label`` (for ``balanced``; None when the pool has no label field) and every field."""

    id: str
    input: str
    label: str | None
    fields: Mapping[str, Any]


class DemoPool:
    """Where a task's demonstrations come from, and how one is written into a prompt.

    ``source``: a JSONL path (one object per line, as :func:`load_jsonl` reads) or a list of
    dicts. ``input``: the field strategies compare with the case (str). ``id``: the unique id
    field (default ``"id"``; missing ids become the line index). ``label``: the class field
    ``balanced`` groups by. ``template``: a ``str.format`` template over the example's fields
    (default ``"{input}{output}\\n"`` style; required). ``query``: the case field (str) or a
    callable ``case -> str`` giving the text compared with pool inputs (default: the case's
    ``input`` field). ``default``: the configuration used when the run gives no
    ``--llm-demos`` (e.g. ``"random:4"``). ``order``: ``"auto"`` (most similar last for
    similarity strategies, as drawn otherwise), ``"similar_last"`` or ``"as_drawn"``.

    Raises :class:`SpecError` for a bad argument and :class:`DataError` for bad pool data.
    """

    def __init__(self, source: str | Path | Sequence[Mapping[str, Any]], *, template: str,
                 input: str = "input", id: str = "id", label: str | None = None,
                 query: str | Callable[[Mapping[str, Any]], str] | None = None,
                 default: str = "random:4", order: str = "auto", separator: str = "") -> None:
        from pytest_llmselect.data import load_jsonl

        if not isinstance(template, str) or not template:
            raise SpecError(f"DemoPool: template must be a non-empty format string, got {template!r}")
        if order not in ORDERS:
            raise SpecError(f"DemoPool: order must be one of {', '.join(ORDERS)}, got {order!r}")
        if query is not None and not (isinstance(query, str) or callable(query)):
            raise SpecError(f"DemoPool: query must be a field name or a callable, got {query!r}")
        if isinstance(source, (str, Path)):
            self.origin = str(source)
            rows = load_jsonl(source, required=(input,))
        elif isinstance(source, Sequence) and all(isinstance(r, Mapping) for r in source):
            self.origin = "<list>"
            rows = [dict(r) for r in source]
        else:
            raise SpecError(f"DemoPool: source must be a JSONL path or a list of dicts, got {type(source).__name__}")
        if not rows:
            raise DataError(f"DemoPool {self.origin}: the pool is empty")
        examples: list[Example] = []
        seen: set[str] = set()
        for i, row in enumerate(rows):
            where = f"DemoPool {self.origin}: example #{i + 1}"
            if input not in row or not isinstance(row[input], str):
                raise DataError(f"{where}: field {input!r} must be a string, got {row.get(input)!r}")
            if label is not None and label not in row:
                raise DataError(f"{where}: missing label field {label!r}")
            ex_id = str(row.get(id, i))
            if ex_id in seen:
                raise DataError(f"{where}: duplicate id {ex_id!r}")
            seen.add(ex_id)
            try:
                template.format(**row)
            except (KeyError, IndexError, ValueError) as exc:
                raise SpecError(f"{where}: template {template!r} cannot be filled ({type(exc).__name__}: {exc})") from None
            examples.append(Example(ex_id, row[input], None if label is None else str(row[label]), row))
        self.examples: tuple[Example, ...] = tuple(examples)
        self.template = template
        self.separator = separator
        self.input_field = input
        self.label_field = label
        self.query = query
        self.order = order
        self.default = default
        self._by_norm: dict[str, list[int]] = {}
        for i, ex in enumerate(self.examples):
            self._by_norm.setdefault(normalize_input(ex.input), []).append(i)
        self._ids = {ex.id: i for i, ex in enumerate(self.examples)}
        digest = hashlib.sha256()
        for ex in self.examples:
            digest.update(json.dumps([ex.id, ex.input, ex.label], ensure_ascii=True).encode() + b"\n")
        self.fingerprint = digest.hexdigest()[:16]
        # The fields a template names, to reject a typo early rather than at the first case.
        self.template_fields = {f for _, f, _, _ in string.Formatter().parse(template) if f}

    def __len__(self) -> int:
        return len(self.examples)

    def __repr__(self) -> str:
        return f"DemoPool({self.origin!r}, {len(self)} examples)"

    @property
    def inputs(self) -> list[str]:
        return [ex.input for ex in self.examples]

    def query_of(self, case: Mapping[str, Any]) -> str:
        """The text of ``case`` compared with pool inputs (see ``query``)."""
        if callable(self.query):
            text = self.query(case)
        else:
            key = self.query or self.input_field
            if not isinstance(case, Mapping) or key not in case:
                raise DataError(f"DemoPool {self.origin}: the case has no field {key!r} to compare with the pool "
                                "(set query= to a field name or a callable)")
            text = case[key]
        if not isinstance(text, str):
            raise DataError(f"DemoPool {self.origin}: the query of a case must be a string, got {text!r}")
        return text

    def excluded(self, query: str, case_id: str | None) -> set[int]:
        """Pool indices a case must never receive: itself (same id) and any example whose
        normalised input equals the case's."""
        out = set(self._by_norm.get(normalize_input(query), ()))
        if case_id is not None and case_id in self._ids:
            out.add(self._ids[case_id])
        return out

    def render(self, indices: Sequence[int]) -> str:
        """The demonstrations written with the template, joined by ``separator``."""
        return self.separator.join(self.template.format(**self.examples[i].fields) for i in indices)


@dataclass(frozen=True)
class Shots:
    """The demonstrations one case received: ``ids`` (pool ids, in prompt order), ``text``
    (rendered, to prepend to the case's prompt), ``examples`` (the pool rows) and
    ``config`` (like ``"knn:4"``). ``clipped``: why fewer than the configuration's k could be
    given to any case (a pool smaller than k), None otherwise. ``str(shots)`` is the text."""

    config: str
    ids: tuple[str, ...]
    text: str
    examples: tuple[Mapping[str, Any], ...]
    clipped: str | None = None

    def __str__(self) -> str:
        return self.text

    def __len__(self) -> int:
        return len(self.ids)

    def __add__(self, other: str) -> str:
        return self.text + other
