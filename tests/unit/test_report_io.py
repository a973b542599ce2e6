"""Writing reports (format dispatch, atomicity, strict JSON), loading and validating them,
and the pandas views of a saved run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from pytest_llmselect.errors import DataError, SpecError
from pytest_llmselect.report import REPORT_FORMATS, load_report, to_json, write_report
from pytest_llmselect.runs import Run, load_run
from tests.report_samples import sample_report


def _strict_loads(text: str) -> object:
    def reject(token: str) -> None:
        raise AssertionError(f"non-standard JSON constant {token} written")

    return json.loads(text, parse_constant=reject)


# -- writing ------------------------------------------------------------------------------


@pytest.mark.parametrize("ext", REPORT_FORMATS)
def test_write_report_dispatches_on_extension(tmp_path: Path, ext: str) -> None:
    target = write_report(sample_report(), tmp_path / "out" / f"run{ext.upper() if ext == '.md' else ext}")
    text = target.read_text(encoding="utf-8")
    assert "zoo:small" in text
    if ext == ".json":
        assert _strict_loads(text)["selected"] == "zoo:small"
    elif ext == ".html":
        assert text.startswith("<!DOCTYPE html>")
    else:
        assert text.startswith("## pytest-llmselect report")
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]  # no temp file left
    assert target.stat().st_mode & 0o044, "a report is an artifact: readable beyond its owner"


@pytest.mark.parametrize("name", ["run.txt", "run", "run.json.bak"])
def test_write_report_rejects_unknown_extension(tmp_path: Path, name: str) -> None:
    with pytest.raises(SpecError) as info:
        write_report(sample_report(), tmp_path / name)
    message = str(info.value)
    assert name in message and ".json, .md, .html" in message
    assert not list(tmp_path.iterdir())


def test_failed_render_leaves_the_previous_file_untouched(tmp_path: Path) -> None:
    target = write_report(sample_report(), tmp_path / "run.json")
    before = target.read_bytes()
    broken = sample_report()
    broken["settings"]["seed"] = object()
    with pytest.raises(TypeError, match=r"report\['settings'\]\['seed'\]"):
        write_report(broken, target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_to_json_writes_null_for_infinity_and_nan() -> None:
    report = sample_report()
    report["tasks"][0]["results"][0]["measures"]["tokens_per_second"] = math.nan
    text = to_json(report)
    data = _strict_loads(text)
    assert data["tasks"][0]["alpha_ranges"]["zoo:small"] == [0.0164, None]
    assert data["tasks"][0]["alpha_ranges"]["evil|model <b>&"] is None
    assert data["tasks"][0]["results"][0]["measures"]["tokens_per_second"] is None
    assert "Infinity" not in text and "NaN" not in text


def test_json_round_trip_restores_unbounded_alpha_ranges(tmp_path: Path) -> None:
    report = sample_report()
    loaded = load_report(write_report(report, tmp_path / "run.json"))
    assert loaded == report
    assert loaded["overall"]["alpha_ranges"]["zoo:small"][1] == math.inf
    assert to_json(loaded) == to_json(report)


# -- loading errors: one line, naming the file ---------------------------------------------


def _load_error(path: Path) -> str:
    with pytest.raises(DataError) as info:
        load_report(path)
    message = str(info.value)
    assert "\n" not in message, message
    assert path.name in message, message
    return message


def test_load_missing_file(tmp_path: Path) -> None:
    assert "no such report file" in _load_error(tmp_path / "nothere.json")


def test_load_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_text("  \n", encoding="utf-8")
    assert "empty" in _load_error(path)


@pytest.mark.parametrize("keep", [0.3, 0.5, 0.99])
def test_load_truncated_file(tmp_path: Path, keep: float) -> None:
    text = to_json(sample_report())
    path = tmp_path / "cut.json"
    path.write_text(text[: int(len(text) * keep)], encoding="utf-8")
    assert "truncated JSON" in _load_error(path)


def test_load_invalid_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  "schema_version": 1,\n  oops\n}\n', encoding="utf-8")
    assert "invalid JSON at line 3, column 3" in _load_error(path)


def test_load_newer_schema(tmp_path: Path) -> None:
    report = sample_report()
    report["schema_version"] = 7
    path = write_report(report, tmp_path / "run.json")
    assert _load_error(path) == (f"{path}: schema_version 7 is newer than this pytest-llmselect supports (1); "
                                 "upgrade pytest-llmselect")


@pytest.mark.parametrize("value", ["1", 1.0, None, True])
def test_load_schema_version_must_be_an_integer(tmp_path: Path, value: object) -> None:
    report = sample_report()
    report["schema_version"] = value
    assert "schema_version must be an integer" in _load_error(write_report(report, tmp_path / "run.json"))


@pytest.mark.parametrize("field", ["tasks", "cases", "selected", "schema_version"])
def test_load_missing_top_level_field(tmp_path: Path, field: str) -> None:
    report = sample_report()
    del report[field]
    assert f"missing required field '{field}'" in _load_error(write_report(report, tmp_path / "run.json"))


def test_load_missing_task_and_result_fields(tmp_path: Path) -> None:
    report = sample_report()
    del report["tasks"][1]["alpha_ranges"]
    del report["tasks"][1]["pareto"]
    message = _load_error(write_report(report, tmp_path / "run.json"))
    assert "tasks[1] ('summary') is missing required fields 'pareto', 'alpha_ranges'" in message
    report = sample_report()
    del report["tasks"][0]["results"][2]["cost"]
    message = _load_error(write_report(report, tmp_path / "run.json"))
    assert "tasks[0] ('addition') results[2] is missing required field 'cost'" in message


@pytest.mark.parametrize("payload, kind", [("[1, 2]", "array"), ('"run"', "string"), ("null", "null")])
def test_load_not_a_json_object(tmp_path: Path, payload: str, kind: str) -> None:
    path = tmp_path / "list.json"
    path.write_text(payload, encoding="utf-8")
    assert f"expected a JSON object (a pytest-llmselect run report), got a JSON {kind}" in _load_error(path)


def test_load_wrong_container_type(tmp_path: Path) -> None:
    report = sample_report()
    report["tasks"] = {"addition": {}}
    assert "tasks must be a JSON array, got a JSON object" in _load_error(write_report(report, tmp_path / "r.json"))


def test_load_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    assert "not UTF-8" in _load_error(path)


def test_load_directory(tmp_path: Path) -> None:
    path = tmp_path / "dir.json"
    path.mkdir()
    assert "directory" in _load_error(path)


# -- Run and its frames ---------------------------------------------------------------------


@pytest.fixture
def run(tmp_path: Path) -> Run:
    return load_run(write_report(sample_report(), tmp_path / "run.json"))


def test_load_run(run: Run, tmp_path: Path) -> None:
    assert run.path == tmp_path / "run.json"
    assert run.selected == "zoo:small"
    assert run.report["schema_version"] == 1


def test_cases_frame(run: Run) -> None:
    frame = run.to_frame()
    assert list(frame.columns) == ["task", "case_id", "candidate", "score", "output", "group", "nodeid"]
    assert frame.shape == (3 * (6 + 4), 7)
    assert frame.groupby("task").size().to_dict() == {"addition": 18, "summary": 12}
    assert not frame.duplicated(["task", "case_id", "candidate"]).any()
    assert frame["score"].dtype.kind == "f"


def test_results_frame(run: Run) -> None:
    frame = run.to_frame("results")
    assert frame.shape[0] == 2 * 3
    assert list(frame.columns[:12]) == ["task", "candidate", "n", "quality", "lo", "hi", "loss", "cost", "objective",
                                        "selected", "min_quality_passed", "verdict"]
    for measure in ("latency_p50", "latency_p95", "tokens_per_second", "peak_memory_bytes", "model_seconds"):
        assert measure in frame.columns
    assert frame["selected"].dtype == bool
    assert frame.groupby("task")["selected"].sum().to_dict() == {"addition": 1, "summary": 1}
    assert frame.loc[frame["selected"], "candidate"].unique().tolist() == ["zoo:small"]
    summary = frame[frame["task"] == "summary"]
    assert summary["latency_p50"].isna().all()  # that task has no measures


def test_overall_frame(run: Run) -> None:
    frame = run.to_frame("overall")
    assert list(frame.columns) == ["candidate", "quality", "loss", "cost", "objective", "selected", "cost_lo",
                                   "cost_hi", "objective_lo", "objective_hi"]
    assert frame["selected"].tolist() == [False, True, False]


@pytest.mark.parametrize("kind", ["case", "RESULTS", 3])
def test_unknown_frame_kind(run: Run, kind: object) -> None:
    with pytest.raises(SpecError, match=r"to_frame kind must be one of 'cases', 'results', 'overall', got"):
        run.to_frame(kind)  # type: ignore[arg-type]
