"""Start-up (torch, the header line, the zoo build) runs in a pytest hook before the first
item, not inside the first model load; a run with no case to run starts nothing."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow

SUITE = '''
import pytest
from pytest_llmselect import exact_match

def test_plain():
    pass

@pytest.mark.llm_task(metric="exact_match")
@pytest.mark.parametrize("case", [{"id": "c1", "prompt": "12+34=", "answer": "46"}])
def test_add(llm, llm_record, case):
    out = llm.generate(case["prompt"], max_new_tokens=4, stop="\\n")
    llm_record(exact_match(out, case["answer"]), output=out)
'''

ARGS = ("--llm-candidates=zoo:tiny", "--llm-run-log=", "-p", "no:cacheprovider")


def test_header_comes_before_the_first_item_even_one_without_a_model(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_subprocess(*ARGS, "-v")
    result.assert_outcomes(passed=2)
    lines = result.outlines
    header = next(i for i, line in enumerate(lines) if line.startswith("llmselect: 1 candidate (zoo:tiny)"))
    plain = next(i for i, line in enumerate(lines) if "test_suite.py::test_plain" in line)
    load = next(i for i, line in enumerate(lines) if line == "llmselect: loading zoo:tiny")
    assert header < plain < load, lines


@pytest.mark.parametrize("extra", [("--collect-only",), ("-k", "plain")])
def test_a_run_without_cases_to_run_starts_nothing(pytester: pytest.Pytester, extra: tuple[str, ...]) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_subprocess(*ARGS, *extra)
    assert result.ret == 0
    assert not any(line.startswith("llmselect: 1 candidate") for line in result.outlines), result.outlines


def test_a_start_up_failure_is_one_warning_and_the_run_still_reports(pytester: pytest.Pytester,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # A model cache under a regular file: the zoo build cannot make its folder (an OSError).
    blocker = pytester.path / "not-a-folder"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv("LLMSELECT_CACHE_DIR", str(blocker / "cache"))
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_subprocess(*ARGS, "--llm-report=run.json")
    result.stdout.fnmatch_lines(["llmselect: warning: start-up failed: *Error: *"])
    assert "INTERNALERROR" not in result.stdout.str()
    report = json.loads((pytester.path / "run.json").read_text(encoding="utf-8"))
    assert [(m["candidate"], m["reason"]) for m in report["missing"]] == [("zoo:tiny", "candidate failed to load")]
