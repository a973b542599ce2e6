"""Bad candidate specs and option values: one clear usage-error line, before any model loads."""

from __future__ import annotations

import pytest
from suitekit import ONE_TEST_SUITE as SUITE


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--llm-candidates=zoo:nope"], "*unknown zoo model 'nope'*known: tiny, small, base*"),
        (["--llm-candidates=./no/such/dir"], "*candidate directory './no/such/dir' does not exist*"),
        (["--llm-candidates=http://x:y"], "*malformed candidate spec 'http://x:y'*"),
        (["--llm-candidates=bad spec!"], "*malformed candidate spec 'bad spec!'*"),
        (["--llm-candidates=zoo:tiny,zoo:tiny"], "*two candidates are named 'zoo:tiny'*"),
        (["--llm-candidates=zoo:tiny,,zoo:small"], "*empty candidate spec*"),
        (["--llm-candidates=zoo:tiny", "--llm-alpha=-1"], "*--llm-alpha must be a non-negative*'-1'*"),
        (["--llm-candidates=zoo:tiny", "--llm-alpha=cheap"], "*--llm-alpha must be a non-negative number, got 'cheap'*"),
        (["--llm-candidates=zoo:tiny", "--llm-alpha=nan"], "*--llm-alpha must be a non-negative finite*"),
        (["--llm-candidates=zoo:tiny", "--llm-report=run.txt"], "*unknown format '.txt'*"),
        (["--llm-candidates=zoo:tiny", "--llm-dtype=int3"], "*--llm-dtype must be one of*"),
        (["--llm-candidates=zoo:tiny", "--llm-batch-size=0"], "*--llm-batch-size must be at least 1*"),
        (["--llm-candidates=zoo:tiny", "--llm-cpu-threads=0"], "*--llm-cpu-threads must be at least 1, got '0'*"),
        (["--llm-candidates=zoo:tiny", "--llm-cpu-threads=two"], "*--llm-cpu-threads must be a int, got 'two'*"),
        (["--llm-candidates=zoo:tiny", "--llm-benchmark-rounds=0"], "*--llm-benchmark-rounds must be at least 1*"),
        (["--llm-candidates=@missing.toml"], "*candidates file *missing.toml* does not exist*"),
        (["--llm-candidates=zoo:tiny", "--llm-judge=zoo:nope"], "*--llm-judge: unknown zoo model 'nope'*"),
        (["--llm-candidates=zoo:tiny", "--llm-samples=0"], "*--llm-samples must be at least 1, got '0'*"),
        (["--llm-candidates=zoo:tiny", "--llm-temperature=-0.5"], "*--llm-temperature must be between 0.0 and 100*"),
        (["--llm-candidates=zoo:tiny", "--llm-top-p=1.5"], "*--llm-top-p must be between*got '1.5'*"),
        # `--llm-save suites/` takes the folder as the name: refused before pytest runs anything.
        (["--llm-candidates=zoo:tiny", "--llm-save", "suites/"], "*--llm-save name must be 1-100 letters*'suites/'*"),
    ],
)
def test_bad_option_is_one_usage_error_line(pytester, args, message):
    pytester.makepyfile(test_t=SUITE)
    result = pytester.runpytest_inprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[[candidate]]\nname = 'a'\n", "*candidate #1: missing required key 'spec'*"),
        ("[[candidate]]\nspec = 'zoo:tiny'\ncolour = 'red'\n", "*unknown key(s) [[]'colour'[]]*"),
        ("[[candidate]]\nspec = 'zoo:tiny'\ndtype = 'int3'\n", "*dtype 'int3' is not one of*"),
        ("[[candidate]]\nspec = 'zoo:tiny'\nprice = {usd_per_hour = -2}\n", "*price.usd_per_hour must be a non-negative*"),
        ("[[candidate]]\nspec = 'zoo:tiny'\ntrust_remote_code = 'yes'\n", "*trust_remote_code must be true or false*"),
        ("[[candidate]]\nspec = 'zoo:tiny'\n[[candidate]]\nspec = 'zoo:tiny'\n", "*two candidates are named 'zoo:tiny'*"),
        ("[[candidate]\n", "*is not valid TOML*"),
        ("title = 'x'\n", "*has no [[][[]candidate[]][]] tables*"),
    ],
)
def test_bad_candidates_file(pytester, toml, message):
    pytester.makepyfile(test_t=SUITE)
    (pytester.path / "cands.toml").write_text(toml)
    result = pytester.runpytest_inprocess("--llm-candidates=@cands.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])


def test_help_shows_one_option_group_with_ini_keys(pytester):
    result = pytester.runpytest_inprocess("--help")
    result.stdout.fnmatch_lines([
        "pytest-llmselect: evaluate and select language models:",
        "*--llm-candidates=LLM_CANDIDATES*",
        "*--llm-alpha=LLM_ALPHA*",
        "*--llm-report=LLM_REPORT*",
        "*--llm-device=LLM_DEVICE*",
    ])
    out = result.stdout.str()
    for key in ("llm_candidates", "llm_alpha", "llm_report", "llm_device"):
        assert f"[ini: {key}]" in out.replace("\n", " ").replace("  ", " ") or f"{key} (" in out


def test_ini_keys_configure_the_run(pytester):
    pytester.makepyfile(test_t=SUITE)
    pytester.makeini("[pytest]\nllm_candidates = zoo:nope\n")
    result = pytester.runpytest_inprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *unknown zoo model 'nope'*"])


def test_a_collection_error_in_one_file_prints_no_report_of_nothing(pytester):
    """Found by a new-user trial: a metric typo in one file of a suite stopped the session at
    collection, and a 68-line PARTIAL report of the other file's unrun cases came before the one
    line that mattered (and replaced the last report on disk). Nothing ran: no report."""
    pytester.makepyfile(test_good=SUITE, test_typo=SUITE.replace('llm_task("t")', 'llm_task("u", metric="exact_mach")'))
    (pytester.path / "run.json").write_text("{}", encoding="utf-8")  # the last run's report, kept
    result = pytester.runpytest_subprocess("--llm-candidates=zoo:tiny", "--llm-report=run.json",
                                           "--llm-run-log=", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert any("exact_mach" in line for line in result.errlines)
    assert not any("LLM selection report" in line or "PARTIAL" in line for line in result.outlines)
    result.stdout.fnmatch_lines(["*no case ran before the session stopped: no report written*"])
    assert (pytester.path / "run.json").read_text(encoding="utf-8") == "{}"


def test_a_case_that_records_no_score_fails_as_pytest_item_too(pytester):
    """Found by a new-user trial: the report counted such a case as errored while pytest showed
    it passed, so the two summaries disagreed."""
    pytester.makepyfile(test_t=SUITE.replace("    llm_record(1.0)", "    pass"))
    result = pytester.runpytest_subprocess("--llm-candidates=zoo:tiny", "--llm-report=run.json", "--llm-run-log=",
                                           "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the test finished without recording a score (call llm_record)*"])
    import json

    (case,) = json.loads((pytester.path / "run.json").read_text(encoding="utf-8"))["cases"]
    assert case["status"] == "errored"


def test_a_test_without_llm_task_is_said_once(pytester):
    """Found by a new-user trial: the report showed 'metric None (higher is better)' with no
    word of where that came from."""
    pytester.makepyfile(test_t='''
import pytest

@pytest.mark.parametrize("x", [1, 2])
def test_plain(llm, llm_record, x):
    llm_record(1.0)
''')
    result = pytester.runpytest_subprocess("--llm-candidates=zoo:tiny", "--llm-run-log=", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    said = [line for line in result.outlines if "without @pytest.mark.llm_task" in line]
    assert said == ["llmselect: warning: test_t.py::test_plain uses the llm fixture without "
                    "@pytest.mark.llm_task: task 'plain', metric not named, higher scores taken as better"]
