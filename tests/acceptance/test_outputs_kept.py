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
