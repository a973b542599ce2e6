"""The plugin end to end on real (tiny, self-trained) transformers models.

Runs that load a model go through a subprocess: pytester's in-process runs drop the
modules first imported during a run, and torch cannot be imported into a process twice.
"""

from __future__ import annotations

import re

import pytest

from suitekit import read_json

pytestmark = pytest.mark.slow

TWO = "--llm-candidates=zoo:tiny,zoo:small"


def test_two_models_two_tasks_report_order_and_loads(suite):
    pt = suite()
    result = pt.runpytest_subprocess(TWO, "--llm-alpha=50", "--llm-report=run.json", "--llm-report=run.md", "-v")
    result.assert_outcomes(passed=2 * (12 + 8))

    # Each candidate's items run together: every tiny item before any small item.
    lines = [ln for ln in result.outlines if " PASSED" in ln]
    cands = [re.search(r"\[(zoo:\w+)-", ln).group(1) for ln in lines]
    assert cands == ["zoo:tiny"] * 20 + ["zoo:small"] * 20

    report = read_json(pt.path / "run.json")
    assert report["schema_version"] == 1
    assert report["alpha"] == report["settings"]["alpha"] == 50.0
    loads = {c["name"]: c["loads"] for c in report["candidates"]}
    assert loads == {"zoo:tiny": 1, "zoo:small": 1}
    params = {c["name"]: c["num_parameters"] for c in report["candidates"]}
    assert params["zoo:tiny"] < params["zoo:small"]

    tasks = {t["name"]: t for t in report["tasks"]}
    assert set(tasks) == {"addition", "largest"}
    assert tasks["addition"]["n_cases"] == 12 and tasks["largest"]["n_cases"] == 8
    assert tasks["addition"]["generation"] == [{"kind": "generate", "max_new_tokens": 5, "stop": ["\n"]}]
    assert tasks["largest"]["generation"] == [{"kind": "loglikelihood", "max_new_tokens": None, "stop": []}]
    for t in tasks.values():
        assert {r["candidate"] for r in t["results"]} == {"zoo:tiny", "zoo:small"}
        for r in t["results"]:
            assert r["lo"] <= r["quality"] <= r["hi"]
            assert r["objective"] == pytest.approx(r["cost"] + 50.0 * r["loss"])
            assert r["cost"] > 0
        assert t["selection"]["selected"] in {"zoo:tiny", "zoo:small"}
    assert report["selected"] == report["overall"]["selection"]["selected"]
    assert len(report["cases"]) == 40
    # Cases pair across candidates by case id (not by test node id).
    ids = {(c["task"], c["case_id"]) for c in report["cases"] if c["candidate"] == "zoo:tiny"}
    assert ids == {(c["task"], c["case_id"]) for c in report["cases"] if c["candidate"] == "zoo:small"}
    assert all(isinstance(c["output"], str) for c in report["cases"])

    md = (pt.path / "run.md").read_text()
    assert report["selected"] in md and "| " in md
    result.stdout.fnmatch_lines(["*LLM selection report*", "*Selected overall*"])


def test_batched_group_runs_in_few_batches(suite):
    pt = suite(n_addition=12, n_largest=8)
    result = pt.runpytest_subprocess("--llm-candidates=zoo:tiny", "--llm-batch-size=8", "--llm-report=run.json")
    result.assert_outcomes(passed=20)
    report = read_json(pt.path / "run.json")
    m = {t["name"]: t["results"][0]["measures"] for t in report["tasks"]}
    # 12 generate requests in batches of 8 -> 2 batches; 8 cases x 4 choices = 32 loglikelihood requests -> 4.
    assert m["addition"]["batches"] == 2 and m["addition"]["unbatched_requests"] == 0
    assert m["largest"]["requests"] == 32 and m["largest"]["batches"] == 4


def test_unannounced_request_still_works_unbatched(pytester):
    pytester.makepyfile(test_free='''
import pytest
@pytest.mark.llm_task("free", metric="exact_match")
@pytest.mark.parametrize("a", [1, 2, 3])
def test_free(llm, llm_record, a):
    out = llm.generate(f"{a}+{a}=", max_new_tokens=4, stop="\\n")
    llm_record(float(out == str(2 * a)), output=out)
''')
    result = pytester.runpytest_subprocess("--llm-candidates=zoo:small", "--llm-report=run.json")
    result.assert_outcomes(passed=3)
    r = read_json(pytester.path / "run.json")["tasks"][0]["results"][0]
    assert r["measures"]["unbatched_requests"] == 3 and r["n"] == 3


def test_k_selects_single_case(suite):
    pt = suite()
    result = pt.runpytest_subprocess(TWO, "-k", "addition-000 and zoo:small", "--llm-report=run.json")
    result.assert_outcomes(passed=1)
    report = read_json(pt.path / "run.json")
    assert [c["name"] for c in report["candidates"] if c["loads"]] == ["zoo:small"]
    assert len(report["cases"]) == 1


def test_min_quality_fails_one_named_item(suite):
    pt = suite(addition_extra=", min_quality=1.01")
    result = pt.runpytest_subprocess(TWO, "--llm-report=run.json", "-rf")
    result.assert_outcomes(passed=40, failed=2)
    result.stdout.fnmatch_lines([
        "*_ llm_min_quality[[]addition-zoo:tiny[]] _*",
        "addition: zoo:tiny quality * [[]*, *[]] (95% wilson interval, n=12) is below the minimum 1.01 *",
    ])
    result.stdout.fnmatch_lines(["FAILED *llm_min_quality[[]addition-zoo:small[]]*"])
    # The report is still written when checks fail.
    assert read_json(pt.path / "run.json")["tasks"]


def test_wrong_answers_do_not_fail_the_session(pytester):
    pytester.makepyfile(test_hard='''
import pytest
@pytest.mark.llm_task("hard", metric="exact_match", requests=None)
@pytest.mark.parametrize("i", range(3))
def test_hard(llm, llm_record, i):
    llm_record(0.0, output="wrong")
''')
    result = pytester.runpytest_subprocess("--llm-candidates=zoo:tiny")
    assert result.ret == 0
    result.assert_outcomes(passed=3)


def test_non_llm_tests_unaffected_without_options(pytester):
    pytester.makepyfile(test_plain='''
def test_a():
    assert 1 + 1 == 2
def test_b(tmp_path):
    assert tmp_path.exists()
''')
    result = pytester.runpytest_inprocess()
    result.assert_outcomes(passed=2)
    assert "LLM selection report" not in result.stdout.str()


def test_llm_test_without_candidates_is_a_usage_error_not_a_green_run(pytester):
    # Found by a new-user trial: a suite run without candidates printed "60 skipped", exit 0.
    pytester.makepyfile(test_x='''
def test_x(llm):
    pass
def test_plain():
    pass
''')
    result = pytester.runpytest_inprocess("-rs")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*1 test(s) use the llm fixture (e.g. test_x.py::test_x) but no candidates are "
                                 "configured: pass --llm-candidates=* or set the ini key llm_candidates"])
    assert "skipped" not in result.stdout.str()
    # Listing tests (an IDE) stays possible without candidates.
    listed = pytester.runpytest_inprocess("--collect-only", "-q")
    assert listed.ret == pytest.ExitCode.OK and "test_x.py::test_x" in listed.stdout.str()
    # Under -n a worker cannot end the session: each such test errors, naming the option; never a skip.
    spread = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    assert spread.ret == pytest.ExitCode.TESTS_FAILED
    spread.assert_outcomes(passed=1, errors=1)
    spread.stdout.fnmatch_lines(["*no LLM candidates: pass --llm-candidates=*"])


def test_xdist_each_candidate_on_one_worker_with_cost_figures(suite):
    pt = suite(n_addition=10, n_largest=6)
    result = pt.runpytest_subprocess(TWO, "-n", "2", "--llm-report=run.json", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2 * 16)
    report = read_json(pt.path / "run.json")
    assert {c["name"]: c["loads"] for c in report["candidates"]} == {"zoo:tiny": 1, "zoo:small": 1}
    assert len(report["cases"]) == 32
    for task in report["tasks"]:
        for r in task["results"]:
            m = r["measures"]
            # pytest-benchmark switches itself off under -n; our own timings remain, marked parallel.
            assert m["parallel"] is True and m["model_seconds"] > 0 and r["cost"] > 0
            assert m["unbatched_requests"] == 0
    result.stdout.fnmatch_lines(["*timings taken under pytest -n*"])
