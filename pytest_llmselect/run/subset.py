"""``--llm-max-cases N``: the first N cases of each task, for a quick run.

The cap is per task, not per candidate: every candidate runs the same N cases, so the
comparisons stay paired. "First" is collection order (a JSONL suite's file order). The
rest are deselected as ``-k`` would deselect them, so the report says how many were left
out and why (``subset`` in the JSON report).
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_llmselect.errors import SpecError

__all__ = ["cap_cases", "parse_max_cases"]


def parse_max_cases(value: Any) -> int | None:
    """A positive whole number, or None for no cap ('', 'all', 0)."""
    text = str(value if value is not None else "").strip().lower()
    if text in ("", "all", "0"):
        return None
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 1:
        raise SpecError(f"--llm-max-cases must be a positive whole number or 'all', got {value!r}")
    return n


def cap_cases(config: pytest.Config, items: list[pytest.Item], limit: int) -> None:
    """Deselect every case of a task after its first ``limit`` (in collection order)."""
    from pytest_llmselect.candidates import Candidate
    from pytest_llmselect.run.plan import _default_task_name, case_id_for
    from pytest_llmselect.tasks import MARKER

    seen: dict[str, set[str]] = {}
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        cand = callspec.params.get("llm") if callspec is not None else None
        if not isinstance(cand, Candidate):
            keep.append(item)
            continue
        marker = item.get_closest_marker(MARKER)
        args, kwargs = (marker.args, marker.kwargs) if marker else ((), {})
        task = args[0] if args else kwargs.get("name", _default_task_name(item))
        ids = seen.setdefault(str(task), set())
        case = case_id_for(item, cand)
        if case in ids or len(ids) < limit:
            ids.add(case)
            keep.append(item)
        else:
            drop.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
