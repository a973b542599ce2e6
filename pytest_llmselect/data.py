"""Loading suite data: JSONL with one case per line, errors that name file and line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from pytest_llmselect.errors import DataError


def load_jsonl(path: str | Path, *, required: Iterable[str] = ("id",)) -> list[dict[str, Any]]:
    """Read cases from a JSONL file.

    Blank lines and lines starting with ``#`` are skipped, and a UTF-8 byte-order mark at
    the start (as some editors write) is ignored. Every case must be a JSON object holding
    the ``required`` keys; case ids must be unique and not empty. A malformed line raises
    :class:`DataError` naming the file and the line number.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{p}: data file not found") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    need = tuple(required)
    cases: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    # Lines end at "\n" only: str.splitlines() would also split inside JSON strings holding
    # U+2028, U+0085 or other characters Unicode counts as line breaks.
    for lineno, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            case = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise DataError(f"{p}:{lineno}: invalid JSON ({exc.msg} at column {exc.colno})") from None
        except RecursionError:
            raise DataError(f"{p}:{lineno}: nested too deeply") from None
        except ValueError as exc:  # an integer with more digits than Python converts
            raise DataError(f"{p}:{lineno}: a number too large to read ({str(exc).splitlines()[0]})") from None
        if not isinstance(case, dict):
            raise DataError(f"{p}:{lineno}: expected a JSON object, got {type(case).__name__}")
        missing = [k for k in need if k not in case]
        if missing:
            raise DataError(f"{p}:{lineno}: missing required key(s) {', '.join(map(repr, missing))}")
        if "id" in case:
            cid = str(case["id"])
            if not cid.strip():
                raise DataError(f"{p}:{lineno}: empty case id {case['id']!r}: give the case a name")
            if cid in seen:
                raise DataError(f"{p}:{lineno}: duplicate case id {cid!r} (first on line {seen[cid]})")
            seen[cid] = lineno
        cases.append(case)
    if not cases:
        raise DataError(f"{p}: no cases in file")
    return cases


def case_ids(cases: Iterable[dict[str, Any]]) -> list[str]:
    """Test ids for ``pytest.mark.parametrize(..., ids=case_ids(CASES))``: each case's ``"id"``.
    Raises :class:`DataError` naming the first case without one (its position and keys)."""
    out = []
    for i, case in enumerate(cases):
        if not isinstance(case, dict) or "id" not in case:
            keys = ", ".join(map(repr, case)) if isinstance(case, dict) else type(case).__name__
            raise DataError(f"case_ids: case {i} has no \"id\" key (it has {keys}); give every case an "
                            "\"id\", or load the file with load_jsonl(path), which requires one")
        out.append(str(case["id"]))
    return out
