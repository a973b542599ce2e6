"""Stored runs: numbered, self-describing run files in a folder, as pytest-benchmark keeps its
benchmark runs, so a CI job can compare with "run 3", "the last run named nightly" or a path.

A stored run is the full JSON run report (docs/report-schema.md: machine, suite fingerprint,
candidates, every case's score and output, costs) plus ``"saved": {"number", "name"}``,
written atomically (temporary file, then rename) as ``<folder>/0001_<name>.json``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping, Union

from pytest_llmselect.errors import DataError, SpecError
from pytest_llmselect.report.jsonio import load_report, write_report

PathLike = Union[str, "os.PathLike[str]"]

DEFAULT_FOLDER = ".llmselect/runs"
DEFAULT_NAME = "run"
LATEST = "latest"
_FILE = re.compile(r"^(\d{4,})_(.+)\.json$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def check_name(name: str) -> str:
    # The name becomes part of a file name: keep it portable and free of path separators.
    if not isinstance(name, str) or not _NAME.match(name) or name.endswith(".json"):
        raise SpecError(f"--llm-save name must be 1-100 letters, digits, '.', '_' or '-' (starting with a "
                        f"letter or digit), got {name!r}")
    return name


def list_runs(folder: PathLike) -> list[tuple[int, str, Path]]:
    """``(number, name, path)`` of every stored run in ``folder``, oldest number first."""
    root = Path(folder)
    if not root.is_dir():
        return []
    runs = []
    for path in root.iterdir():
        m = _FILE.match(path.name)
        if m and path.is_file():
            runs.append((int(m.group(1)), m.group(2), path))
    return sorted(runs, key=lambda r: (r[0], r[1]))


def save_run(report: Mapping[str, Any], folder: PathLike, name: str | None = None) -> Path:
    """Store ``report`` as the next numbered run in ``folder`` and return its path.

    The number is one more than the highest stored, whatever the names: jobs saving into one
    folder at once take a lock file (``.lock``, via ``filelock``) around choosing the number,
    so each gets its own. The run is written completely to a temporary file first and renamed
    into place under the lock, so a reader (``--llm-baseline=latest``) never sees a partial or
    empty run, and a job killed while storing leaves none behind.
    Raises ``SpecError`` for a bad name, ``OSError`` when the folder is not writable.
    """
    from filelock import FileLock

    label = check_name(name or DEFAULT_NAME)
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / ".lock"), timeout=60):
        number = max((n for n, _, _ in list_runs(root)), default=0) + 1
        while any(root.glob(f"{number:04d}_*.json")):  # written by a job that did not take the lock
            number += 1
        target = root / f"{number:04d}_{label}.json"
        write_report({**report, "saved": {"number": number, "name": label}}, target)  # temp file + rename
    return target


def _known(runs: list[tuple[int, str, Path]]) -> str:
    if not runs:
        return "none saved yet"
    shown = ", ".join(f"{n:04d} ({name})" for n, name, _ in runs[-5:])
    return ("..., " if len(runs) > 5 else "") + shown


def resolve_baseline(spec: str, folder: PathLike, base_dir: PathLike | None = None) -> Path:
    """The file a ``--llm-baseline`` value names: a path to an existing file (relative to
    ``base_dir``), else a stored run's number (``3`` or ``0003``), else the newest stored run
    with that name, else ``latest`` for the newest stored run. ``DataError`` otherwise."""
    text = str(spec).strip()
    if not text:
        raise SpecError("--llm-baseline is empty; give a run file, a stored run number or name")
    path = Path(text).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    if path.is_file():
        return path
    runs = list_runs(folder)
    if text.isdigit():
        wanted = int(text)
        for number, _, p in runs:
            if number == wanted:
                return p
        raise DataError(f"--llm-baseline {text}: no stored run number {wanted} in {os.fspath(folder)} "
                        f"(stored: {_known(runs)})")
    named = [p for _, name, p in runs if name == text]
    if named:
        return named[-1]
    if text == LATEST and runs:
        return runs[-1][2]
    if path.exists():
        raise DataError(f"{text}: is a directory, not a run file")
    looks_like_path = text.endswith(".json") or os.sep in text or "/" in text
    if looks_like_path:
        raise DataError(f"{text}: no such baseline file")
    raise DataError(f"--llm-baseline {text!r}: no such file, and no stored run with that number or name "
                    f"in {os.fspath(folder)} (stored: {_known(runs)})")


def load_run_file(path: PathLike) -> dict[str, Any]:
    """Load a stored run or any JSON run report; every problem is one ``DataError`` line."""
    return load_report(path)
