"""``--llm-checks``: a candidate under a task's ``min_quality`` fails its check item (the
default, for a CI job that ships one model), or, with ``report``, the item is xfailed with the
same line and the run passes: in a selection, a candidate a minimum excludes is a finding."""

from __future__ import annotations

import json

import pytest

SUITE = '''
import pytest

CASES = [{"id": f"c{i}", "score": float(i % 2)} for i in range(6)]


@pytest.mark.llm_task("half", metric="exact_match", min_quality=0.9)
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_half(llm, llm_record, case):
    llm_record(case["score"])
'''
# The default, a failed item, is test_plugin_end_to_end.py::test_min_quality_fails_one_named_item.
ARGS = ("--llm-candidates=zoo:tiny", "--llm-report=run.json", "-p", "no:cacheprovider")


def test_report_xfails_the_check_with_its_line_and_the_run_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_subprocess(*ARGS, "--llm-checks=report", "-rx")
    result.assert_outcomes(passed=6, xfailed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["XFAIL *llm_min_quality[[]half-zoo:tiny[]]*half: zoo:tiny quality 0.5000 *"
                                 "is below the minimum 0.9 *"])
    report = json.loads((pytester.path / "run.json").read_text(encoding="utf-8"))
    (task,) = report["tasks"]
    assert [r["min_quality_passed"] for r in task["results"]] == [False]
    assert report["overall"]["excluded"] == {"zoo:tiny": "quality 0.5 below min_quality 0.9 on task 'half'"}


def test_a_bad_value_is_one_usage_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_subprocess(*ARGS, "--llm-checks=warn")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--llm-checks must be one of fail, report, got 'warn'*"])
