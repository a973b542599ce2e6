"""The run log's reader and writer: appends tagged lines, survives a cut-off last line, names bad lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmselect.errors import DataError
from pytest_llmselect.runlog import RunLogWriter, read_events, report_inputs, run_ids


def _case(task: str, cand: str, case_id: str, score: float) -> dict:
    return {"task": task, "candidate": cand, "case_id": case_id, "score": score, "output": None,
            "group": None, "nodeid": f"t.py::{case_id}[{cand}]"}


def test_two_writers_append_and_keep_each_others_lines(tmp_path: Path):
    path = tmp_path / "log.jsonl"
    first, second = RunLogWriter(path, "r1"), RunLogWriter(path, "r2")
    for i in range(3):
        first.write("case", _case("t", "a", str(i), 1.0))
        second.write("case", _case("t", "b", str(i), 0.0))
    first.close()
    second.close()
    events = read_events(path)
    assert run_ids(events) == ["r1", "r2"]
    assert len(events) == 6
    RunLogWriter(path, "r3").write("finish", {})  # a later run never truncates
    assert len(read_events(path)) == 7


def test_unwritable_log_is_one_problem_naming_the_path(tmp_path: Path):
    (tmp_path / "file").write_text("x")
    writer = RunLogWriter(tmp_path / "file" / "log.jsonl", "r")
    writer.write("case", _case("t", "a", "0", 1.0))
    writer.write("case", _case("t", "a", "1", 1.0))
    assert writer.problem is not None and "file/log.jsonl" in writer.problem


def test_inputs_of_an_unfinished_run(tmp_path: Path):
    path = tmp_path / "log.jsonl"
    w = RunLogWriter(path, "r1")
    w.write("start", {"settings": {"alpha": 3.0, "level": 0.9, "seed": 1}})
    w.write("state", {"candidates": [{"name": "a"}], "tasks": [{"name": "t", "metric": "exact_match",
                                                                "higher_is_better": True}],
                      "measures": [{"task": "t", "candidate": "a", "measures": {"model_seconds": 1.5}}]})
    w.write("case", _case("t", "a", "0", 1.0))
    w.close()
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"run_id": "r1", "event": "case", "task"')  # killed mid-line
    inputs, about = report_inputs(path)
    assert about == {"run_id": "r1", "finished": False, "settings": {"alpha": 3.0, "level": 0.9, "seed": 1},
                     "runs": ["r1"], "missing": [], "started": None}
    assert [c["case_id"] for c in inputs["cases"]] == ["0"]
    assert inputs["measures"] == {("t", "a"): {"model_seconds": 1.5}}


def test_bad_line_and_unknown_run_are_one_line_errors(tmp_path: Path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"run_id": "r", "event": "case"}\nnot json\n{"run_id": "r", "event": "finish"}\n')
    with pytest.raises(DataError, match=r"log.jsonl:2: not a JSON line"):
        read_events(path)
    path.write_text(json.dumps({"run_id": "r", "event": "case", **_case("t", "a", "0", 1.0)}) + "\n")
    with pytest.raises(DataError, match="no run 'zz'.*runs: r"):
        report_inputs(path, "zz")


@given(st.text(max_size=300))
def test_reader_fuzz_returns_events_or_one_data_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "log.jsonl"
    path.write_text(text, encoding="utf-8")
    try:
        events = read_events(path)
    except DataError as exc:
        assert "\n" not in str(exc)
    else:
        assert all(isinstance(e, dict) and "event" in e for e in events)
        try:
            report_inputs(path)
        except DataError as exc:
            assert "\n" not in str(exc)


def test_a_killed_run_misses_the_planned_cases_it_never_logged(tmp_path: Path):
    """The plan line names every planned case; without a finish line, those with no case line
    are missing (the run was killed); a finish line's own list wins when there is one."""
    path = tmp_path / "log.jsonl"
    w = RunLogWriter(path, "r1")
    w.write("start", {"time": 1_780_000_000.0, "settings": {"alpha": 1.0}})
    w.write("plan", {"cases": [["t", "a", "0"], ["t", "a", "1"], ["t", "b", "0"]]})
    w.write("case", _case("t", "a", "0", 1.0))
    w.close()
    _, about = report_inputs(path)
    reason = "not run: the run was killed before it (its log has no finish line)"
    assert about["missing"] == [{"task": "t", "candidate": "a", "count": 1, "reason": reason},
                                {"task": "t", "candidate": "b", "count": 1, "reason": reason}]
    assert about["started"] == 1_780_000_000.0
    w = RunLogWriter(path, "r1")
    w.write("finish", {"exitstatus": 2, "missing": [{"task": "t", "candidate": "a", "count": 2, "reason": "x"}]})
    w.close()
    _, about = report_inputs(path)
    assert about["finished"] and about["missing"] == [{"task": "t", "candidate": "a", "count": 2, "reason": "x"}]
