"""Writing reports in any format and reading JSON run reports back, with schema checks.

A saved run is re-read months later by another version of the tool, possibly after a CI job
was killed mid-write, so ``load_report`` turns every way a file can be wrong into one
``DataError`` line that names the file and the problem, and ``write_report`` never leaves a
half-written file behind (temp file + ``os.replace``).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping, Union

from ..errors import DataError, SpecError

PathLike = Union[str, "os.PathLike[str]"]

SCHEMA_VERSION = 1
REPORT_FORMATS = (".json", ".md", ".html")

# What the renderers and re-selection cannot do without; optional blocks (tool, machine,
# suite, created, complete) are rendered when present and skipped when not.
_REQUIRED_TOP = ("schema_version", "settings", "units", "candidates", "tasks", "overall", "selected", "cases")
_REQUIRED_TASK = ("name", "metric", "higher_is_better", "results", "selection", "pareto", "alpha_ranges")
_REQUIRED_RESULT = ("candidate", "quality", "cost", "objective")
_TOP_TYPES: dict[str, type] = {"settings": dict, "units": dict, "candidates": list, "tasks": list,
                               "overall": dict, "cases": list}


def utf8_text(text: str) -> str:
    """``text`` unchanged when it can be written as UTF-8; else its lone surrogates (which a
    JSON parser accepts as ``\\ud800`` but no UTF-8 file can hold) as visible ``\\udXXX``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def plain(obj: Any) -> Any:
    """Any value as plain JSON data, never failing: non-finite floats become ``null``,
    other objects their ``repr``. For what users hand to ``llm_record`` and for run-log lines."""
    if obj is None or isinstance(obj, (bool, int)):
        return obj
    if isinstance(obj, str):
        return utf8_text(obj)
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {utf8_text(str(k)): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return utf8_text(repr(obj))


def _jsonable(obj: Any, where: str) -> Any:
    """JSON has no infinity or NaN: both become ``null`` (the schema's unbounded/undefined)."""
    if isinstance(obj, str):
        return utf8_text(obj)
    if obj is None or isinstance(obj, (bool, int)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {utf8_text(str(k)): _jsonable(v, f"{where}[{k!r}]") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars from stats code
        return _jsonable(obj.item(), where)
    raise TypeError(f"{where}: cannot write a value of type {type(obj).__name__} ({obj!r}) to a JSON report")


def to_json(report: Mapping[str, Any]) -> str:
    """The report as strict JSON text: ``math.inf`` and NaN are written as ``null``."""
    return json.dumps(_jsonable(report, "report"), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _renderer(ext: str) -> Callable[[Mapping[str, Any]], str]:
    # Imported here so writing JSON never pays for the renderers' imports.
    if ext == ".json":
        return to_json
    if ext == ".md":
        from .markdown import render_markdown
        return render_markdown
    from .html import render_html
    return render_html


def _new_file_mode(path: Path) -> int:
    # mkstemp creates 0600 files; a report is an artifact others read, so give it the mode
    # an ordinary open() would (or keep the mode of the file it replaces).
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_report(report: Mapping[str, Any], path: PathLike) -> Path:
    """Render ``report`` in the format named by the extension of ``path`` and write it atomically."""
    target = Path(path)
    ext = target.suffix.lower()
    if ext not in REPORT_FORMATS:
        raise SpecError(f"{os.fspath(path)}: unsupported report format {target.suffix or '(no extension)'!r}; "
                        f"the report path must end in one of {', '.join(REPORT_FORMATS)}")
    text = _renderer(ext)(report)  # render first: a rendering error must not touch the old file
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _new_file_mode(target))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


_JSON_KIND = {list: "array", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}


def _missing(obj: Mapping[str, Any], fields: tuple[str, ...]) -> str | None:
    absent = [f for f in fields if f not in obj]
    if not absent:
        return None
    return f"missing required field{'s' if len(absent) > 1 else ''} " + ", ".join(repr(f) for f in absent)


def _check(data: Any, name: str) -> None:
    if not isinstance(data, dict):
        raise DataError(f"{name}: expected a JSON object (a pytest-llmselect run report), "
                        f"got a JSON {_JSON_KIND.get(type(data), type(data).__name__)}")
    if "schema_version" not in data:
        raise DataError(f"{name}: missing required field 'schema_version'; not a pytest-llmselect run report")
    version = data["schema_version"]
    if not isinstance(version, int) or isinstance(version, bool):
        raise DataError(f"{name}: schema_version must be an integer, got {version!r}")
    if version > SCHEMA_VERSION:
        raise DataError(f"{name}: schema_version {version} is newer than this pytest-llmselect supports "
                        f"({SCHEMA_VERSION}); upgrade pytest-llmselect")
    if version < 1:
        raise DataError(f"{name}: schema_version {version} is not a valid report schema version")
    problem = _missing(data, _REQUIRED_TOP)
    if problem:
        raise DataError(f"{name}: {problem}")
    for key, kind in _TOP_TYPES.items():
        if not isinstance(data[key], kind):
            raise DataError(f"{name}: {key} must be a JSON {_JSON_KIND.get(kind, 'object')}, "
                            f"got a JSON {_JSON_KIND.get(type(data[key]), 'object')}")
    for i, task in enumerate(data["tasks"]):
        if not isinstance(task, dict):
            raise DataError(f"{name}: tasks[{i}] must be a JSON object")
        label = f"tasks[{i}]" + (f" ({task['name']!r})" if "name" in task else "")
        problem = _missing(task, _REQUIRED_TASK)
        if problem:
            raise DataError(f"{name}: {label} is {problem}")
        if not isinstance(task["results"], list):
            raise DataError(f"{name}: {label} results must be a JSON array")
        for j, result in enumerate(task["results"]):
            problem = _missing(result, _REQUIRED_RESULT) if isinstance(result, dict) else "not a JSON object"
            if problem:
                raise DataError(f"{name}: {label} results[{j}] is {problem}")


def _restore_infinity(data: dict[str, Any]) -> None:
    """Undo ``to_json`` for alpha ranges, where the schema defines ``null`` as unbounded."""
    for block in [*data["tasks"], data["overall"]]:
        ranges = block.get("alpha_ranges") if isinstance(block, dict) else None
        for key, r in (ranges or {}).items():
            if isinstance(r, list) and len(r) == 2 and r[1] is None:
                ranges[key] = [r[0], math.inf]


def load_report(path: PathLike) -> dict[str, Any]:
    """Read and validate a JSON run report; every problem is a one-line ``DataError`` naming the file.

    Unbounded alpha ranges (``null`` upper ends) come back as ``math.inf``, as the plugin
    builds them in memory, so ``load_report(write_report(r, p)) == r``.
    """
    name = os.fspath(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError(f"{name}: no such report file") from None
    except IsADirectoryError:
        raise DataError(f"{name}: is a directory, not a report file") from None
    except OSError as exc:
        raise DataError(f"{name}: cannot read the report file ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{name}: not UTF-8 text (bad byte at offset {exc.start}); not a JSON run report") from None
    if not text.strip():
        raise DataError(f"{name}: the file is empty; the run that wrote it was probably interrupted")
    try:
        data = json.loads(text)
    except RecursionError:
        raise DataError(f"{name}: nested too deeply to be a run report") from None
    except json.JSONDecodeError as exc:
        # An error at the very end (or an unterminated string, which only ends at EOF) means
        # the file was cut short, which deserves a different hint than a syntax error.
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            raise DataError(f"{name}: truncated JSON (ends at line {text.count(chr(10)) + 1} without closing "
                            "the report); the run that wrote it was probably interrupted") from None
        raise DataError(f"{name}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except ValueError as exc:  # an integer with more digits than Python converts
        raise DataError(f"{name}: a number too large to read ({str(exc).splitlines()[0]})") from None
    _check(data, name)
    from .schema import validate_report

    validate_report(data, name)
    _restore_infinity(data)
    return data
