"""``--llm-max-cases N``: the first N cases of each task, the same for every candidate, the
rest deselected and reported as a subset."""

from __future__ import annotations

import json

import pytest

SUITE = '''
import pytest

CASES = [{"id": f"c{i}"} for i in range(5)]
OTHER = [{"id": f"o{i}"} for i in range(3)]


@pytest.mark.llm_task("first", metric="exact_match")
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_first(llm, llm_record, case):
    llm_record(1.0)


@pytest.mark.llm_task("second", metric="exact_match")
@pytest.mark.parametrize("case", OTHER, ids=[c["id"] for c in OTHER])
def test_second(llm, llm_record, case):
    llm_record(0.0)
'''


def test_the_first_cases_of_each_task_run_for_every_candidate(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_subprocess("--llm-candidates=zoo:tiny,zoo:small", "--llm-max-cases=2",
                                           "--llm-report=run.json", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2 * 2 * 2, deselected=(3 + 1) * 2)
    report = json.loads((pytester.path / "run.json").read_text(encoding="utf-8"))
    ran = sorted((c["task"], c["candidate"], c["case_id"]) for c in report["cases"])
    assert ran == sorted((t, cand, i) for cand in ("zoo:tiny", "zoo:small")
                         for t, ids in (("first", ("c0", "c1")), ("second", ("o0", "o1"))) for i in ids)
    assert report["subset"] == {"deselected": 8, "filters": {"--llm-max-cases": "2"}}
    assert report["complete"] is True
    # The report reads back (its schema takes the filter), as `python -m pytest_llmselect report` does.
    from pytest_llmselect import load_run

    assert load_run(pytester.path / "run.json").to_frame() is not None


def test_a_bad_value_is_one_usage_line(pytester: pytest.Pytester) -> None:
    value = "two"  # the values refused are tests/unit/test_max_cases_values.py's
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_subprocess("--llm-candidates=zoo:tiny", f"--llm-max-cases={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--llm-max-cases must be a positive whole number or 'all', got '{value}'*"])
