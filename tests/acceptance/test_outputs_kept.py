"""Run log, reports and stored runs: nothing lost, nothing half-written, and an output that cannot be
written is said once (a run log: warning, the run goes on; a report or stored run: non-zero exit)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from suitekit import read_json

pytestmark = pytest.mark.slow

TINY = "--llm-candidates=zoo:tiny"


def _events(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_run_log_appends_runs_and_builds_a_report(suite):
    pt = suite(n_addition=4, n_largest=3)
    for _ in range(2):
        pt.runpytest_subprocess(TINY, "--llm-report=run.json").assert_outcomes(passed=7)
    log = pt.path / ".llmselect" / "run-log.jsonl"
    events = _events(log)
    runs = list(dict.fromkeys(e["run_id"] for e in events))
    assert len(runs) == 2  # the second run kept the first run's lines
    for run in runs:
        mine = [e for e in events if e["run_id"] == run]
        assert [e["event"] for e in mine][0] == "start" and mine[-1]["event"] == "finish"
        assert sum(e["event"] == "case" for e in mine) == 7
    report = read_json(pt.path / "run.json")
    assert report["run_id"] == runs[-1]

    # The report command rebuilds the same selection from the log (the last run by default).
    out = subprocess.run([sys.executable, "-m", "pytest_llmselect", "report", str(log), "--format", "json",
                          "-o", str(pt.path / "from-log.json")], capture_output=True, text=True, cwd=pt.path)
    assert out.returncode == 0, out.stderr
    rebuilt = read_json(pt.path / "from-log.json")
    assert rebuilt["complete"] is True and rebuilt["partial"] is False and rebuilt["run_id"] == runs[-1]
    assert rebuilt["selected"] == report["selected"]
    quality = {(t["name"], r["candidate"]): r["quality"] for t in report["tasks"] for r in t["results"]}
    assert {(t["name"], r["candidate"]): r["quality"] for t in rebuilt["tasks"] for r in t["results"]} == quality

    # A run cut off before its finish line (a killed job): the report says partial.
    cut = [line for line in log.read_text(encoding="utf-8").splitlines()
           if json.loads(line)["event"] != "finish" or json.loads(line)["run_id"] != runs[0]]
    (pt.path / "killed.jsonl").write_text("\n".join(cut) + "\n", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "pytest_llmselect", "report", "killed.jsonl", "--run-id", runs[0]],
                         capture_output=True, text=True, cwd=pt.path)
    assert out.returncode == 0, out.stderr
    assert "Incomplete run" in out.stdout


def test_unwritable_outputs(suite):
    pt = suite(n_addition=3, n_largest=2)
    (pt.path / "blocker").write_text("a file where a folder should be", encoding="utf-8")
    result = pt.runpytest_subprocess(TINY, "--llm-run-log=blocker/log.jsonl", "--llm-report=blocker/run.json",
                                     "--llm-report=good.md", "--llm-save=x", "--llm-storage=blocker/runs")
    # The run log: one warning, every case still scored.
    result.assert_outcomes(passed=5)
    warnings = [ln for ln in result.outlines if "llmselect: warning:" in ln]
    assert len(warnings) == 1 and "blocker/log.jsonl" in warnings[0] and "goes on" in warnings[0]
    # The report and the stored run: a non-zero exit and one line naming each path.
    assert result.ret != 0
    report_lines = [ln for ln in result.outlines if "cannot write the report" in ln]
    assert len(report_lines) == 1 and "blocker/run.json" in report_lines[0] and ".tmp" not in report_lines[0]
    store_lines = [ln for ln in result.outlines if "cannot store the run" in ln]
    assert len(store_lines) == 1 and "blocker/runs" in store_lines[0]
    assert (pt.path / "good.md").is_file()  # the report that could be written was
