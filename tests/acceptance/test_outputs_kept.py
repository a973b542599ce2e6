"""An output that cannot be written is said once: a run log or response cache is a warning and the run
goes on; a report or stored run makes the exit code non-zero. (Appending run logs: test_cache_resume.py.)"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

TINY = "--llm-candidates=zoo:tiny"


def test_unwritable_outputs(suite):
    pt = suite(n_addition=3, n_largest=2)
    (pt.path / "blocker").write_text("a file where a folder should be", encoding="utf-8")
    result = pt.runpytest_subprocess(TINY, "--llm-run-log=blocker/log.jsonl", "--llm-cache-path=blocker/c.sqlite",
                                     "--llm-report=blocker/run.json",
                                     "--llm-report=good.md", "--llm-save=x", "--llm-storage=blocker/runs")
    # The run log and the response cache: one warning each, every case still scored.
    result.assert_outcomes(passed=5)
    warnings = [ln for ln in result.outlines if "llmselect: warning:" in ln]
    assert len(warnings) == 2 and all("goes on" in w for w in warnings)
    assert "blocker/log.jsonl" in warnings[0] + warnings[1] and "blocker/c.sqlite" in warnings[0] + warnings[1]
    # The report and the stored run: a non-zero exit and one line naming each path.
    assert result.ret != 0
    report_lines = [ln for ln in result.outlines if "cannot write the report" in ln]
    assert len(report_lines) == 1 and "blocker/run.json" in report_lines[0] and ".tmp" not in report_lines[0]
    store_lines = [ln for ln in result.outlines if "cannot store the run" in ln]
    assert len(store_lines) == 1 and "blocker/runs" in store_lines[0]
    assert (pt.path / "good.md").is_file()  # the report that could be written was


def test_collect_only_writes_no_report_stores_no_run_and_logs_nothing(suite):
    """``--collect-only`` (IDEs run it all the time) runs no model: it must not replace a
    finished run's report with an empty PARTIAL one, store an empty run that a later
    ``--llm-baseline`` would pick up, or append a run to the run log."""
    pt = suite(n_addition=3, n_largest=2)
    outputs = (TINY, "--llm-report=run.json", "--llm-save=main", "--llm-run-log=log.jsonl")
    pt.runpytest_subprocess(*outputs).assert_outcomes(passed=5)
    report, log = (pt.path / "run.json").read_bytes(), (pt.path / "log.jsonl").read_bytes()
    stored = sorted(p.name for p in (pt.path / ".llmselect" / "runs").iterdir())
    result = pt.runpytest_subprocess(*outputs, "--collect-only")
    assert result.ret == 0
    assert not any("LLM selection report" in line or "PARTIAL" in line for line in result.outlines)
    assert (pt.path / "run.json").read_bytes() == report and (pt.path / "log.jsonl").read_bytes() == log
    assert sorted(p.name for p in (pt.path / ".llmselect" / "runs").iterdir()) == stored
