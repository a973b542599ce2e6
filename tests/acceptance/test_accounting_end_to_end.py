"""Every planned case accounted for (issue 15), end to end on zoo models.

Scores here are fixed by the case, not by the model's answer, so the figures are exact;
the models still run every request (batched per group), load, fail to load, and stop."""

from __future__ import annotations

import json

import subprocess
import sys

import pytest

from pytest_llmselect.report.jsonio import write_report
from suitekit import REPO, read_json

pytestmark = pytest.mark.slow

MIXED = '''
import pytest
from pytest_llmselect import GenerateRequest

CASES = [{"id": f"easy-{i}", "hard": False} for i in range(10)] + [{"id": f"hard-{i}", "hard": True} for i in range(10)]

def request(case):
    return GenerateRequest(case["id"] + ":", max_new_tokens=2)

@pytest.mark.llm_task("mixed", metric="exact_match", requests=request)
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_mixed(llm, llm_record, case):
    out = llm.run(request(case)).text
    if case["hard"] and llm.name == "zoo:tiny":
        raise RuntimeError("model error on a hard case")
    # zoo:small answers one hard case right: 11/20 against tiny's 10 easy ones.
    llm_record(0.0 if case["hard"] and case["id"] != "hard-0" else 1.0, output=out)
'''

RANGED = '''
import pytest

@pytest.mark.llm_task("ranged", metric="exact_match")
@pytest.mark.parametrize("v", [1.0, 2.0, float("inf")], ids=["one", "two", "inf"])
def test_ranged(llm, llm_record, v):
    llm_record(v, note=float("nan"))
'''

BROKEN = "./broken"


def _rows(report):
    return {(t["name"], r["candidate"]): r for t in report["tasks"] for r in t["results"]}


@pytest.fixture
def accounting_suite(pytester):
    pytester.makepyfile(test_mixed=MIXED, test_ranged=RANGED)
    broken = pytester.mkdir("broken")  # weights nobody can load: an unknown architecture
    (broken / "config.json").write_text('{"model_type": "no-such-architecture"}', encoding="utf-8")
    return pytester


def test_errors_count_load_failure_stays_scores_checked(accounting_suite):
    pt = accounting_suite
    result = pt.runpytest_subprocess(f"--llm-candidates={BROKEN},zoo:tiny,zoo:small", "--llm-alpha=1000",
                                     "--llm-report=run.json", "--llm-report=run.md", "--llm-report=run.html",
                                     "--llm-run-log=log.jsonl", "-rs")
    # broken: its first case errors (one line), the other 22 are skipped with the reason.
    result.assert_outcomes(passed=32, failed=14, errors=1, skipped=22)
    report = read_json(pt.path / "run.json")
    rows = _rows(report)

    tiny, small = rows[("mixed", "zoo:tiny")], rows[("mixed", "zoo:small")]
    assert (tiny["n"], tiny["n_errors"], tiny["n_missing"], tiny["n_planned"]) == (20, 10, 0, 20)
    assert tiny["quality"] == pytest.approx(0.5)  # errored hard cases count at exact_match's worst, 0
    assert (small["n"], small["n_errors"], small["quality"]) == (20, 0, pytest.approx(0.55))
    mixed = next(t for t in report["tasks"] if t["name"] == "mixed")
    assert mixed["selection"]["selected"] == "zoo:small"
    assert report["selected"] == "zoo:small"

    # Scores outside the metric's range fail their own case, with the value, task and metric.
    for cand in ("zoo:tiny", "zoo:small"):
        r = rows[("ranged", cand)]
        assert (r["n"], r["n_errors"], r["quality"]) == (3, 2, pytest.approx(1 / 3))
    errors = {c["error"] for c in report["cases"] if c["status"] == "errored" and c["task"] == "ranged"}
    assert errors == {"LLMSelectError: score 2.0 for task 'ranged' (metric exact_match) is outside the metric's "
                      f"range [0, 1] (case '{cid}', candidate {cand})" for cid in ("two",)
                      for cand in ("zoo:tiny", "zoo:small")} | {
        f"LLMSelectError: score inf for task 'ranged' (metric exact_match) is not finite (case 'inf', candidate {c})"
        for c in ("zoo:tiny", "zoo:small")}

    # The candidate that failed to load: in the report, not run, never selected.
    broken = next(c for c in report["candidates"] if c["name"] == BROKEN)
    assert broken["status"] == "load_failed" and "\n" not in broken["load_error"]
    assert (rows[("mixed", BROKEN)]["n"], rows[("mixed", BROKEN)]["n_missing"]) == (0, 20)
    assert report["complete"] is False
    assert sorted((m["task"], m["candidate"], m["count"], m["reason"]) for m in report["missing"]) == [
        ("mixed", BROKEN, 20, "candidate failed to load"), ("ranged", BROKEN, 3, "candidate failed to load")]
    assert BROKEN in report["overall"]["excluded"]
    assert all(r["candidate"] != BROKEN for r in report["overall"]["results"])

    # Every format says so; the load failure is one line, not a traceback per case.
    md = (pt.path / "run.md").read_text(encoding="utf-8")
    html = (pt.path / "run.html").read_text(encoding="utf-8")
    for text in (md, html, result.stdout.str()):
        assert "PARTIAL RUN" in text and "errors" in text and "failed to load" in text
    assert "Traceback" not in result.stdout.str()
    assert len([ln for ln in result.outlines if "no-such-architecture" in ln]) <= 4

    # The run log is standard JSON: the NaN a test handed over became null.
    lines = (pt.path / "log.jsonl").read_text(encoding="utf-8").splitlines()
    events = [json.loads(ln, parse_constant=lambda c: pytest.fail(f"non-standard JSON token {c}")) for ln in lines]
    logged = [e for e in events if e["event"] == "case"]
    assert len(logged) == 2 * (20 + 3)
    assert {rec["extra"]["note"] for rec in logged if rec["task"] == "ranged" and rec["status"] == "scored"} == {None}


def test_stopped_run_is_partial_and_says_what_is_missing(accounting_suite):
    pt = accounting_suite
    result = pt.runpytest_subprocess("test_mixed.py", "--llm-candidates=zoo:tiny,zoo:small", "-x",
                                     "--llm-report=run.json", "--llm-run-log=log.jsonl",
                                     "--benchmark-only")  # task items are benchmarks
    result.assert_outcomes(passed=10, failed=1)
    report = read_json(pt.path / "run.json")
    assert report["complete"] is False
    stop = "not run: the session stopped early (Ctrl-C, -x or --maxfail)"
    assert sorted((m["candidate"], m["count"], m["reason"]) for m in report["missing"]) == [
        ("zoo:small", 20, stop), ("zoo:tiny", 9, stop)]
    tiny = _rows(report)[("mixed", "zoo:tiny")]
    assert (tiny["n"], tiny["n_errors"], tiny["n_missing"], tiny["n_planned"]) == (11, 1, 9, 20)
    # A partial run never picks the survivor (issue 20): no overall pick, and why.
    assert report["selected"] is None
    assert report["overall"]["selection"]["no_pick_reason"] == (
        "no overall pick: partial run, 20 cases of zoo:small not run, 9 cases of zoo:tiny not run")
    result.stdout.fnmatch_lines(["*PARTIAL RUN: 29 planned case(s) not run*"])
    # The report rebuilt from the run log says the same (a new user found it silent after Ctrl-C:
    # the log had a finish line, so the rebuilt report read as complete).
    rebuilt = subprocess.run([sys.executable, "-m", "pytest_llmselect", "report", "log.jsonl", "--format", "json",
                              "-o", "fromlog.json"], cwd=pt.path, capture_output=True, text=True)
    assert rebuilt.returncode == 0, rebuilt.stderr
    fromlog = read_json(pt.path / "fromlog.json")
    assert fromlog["complete"] is False and fromlog["missing"] == report["missing"]
    assert fromlog["created"] and fromlog["created"][:10] == report["created"][:10]


TEMPLATES = '''
import pytest

TEMPLATES = [{"id": "plain", "t": "{x}"}, {"id": "polite", "t": "please {x}"}]
CASES = [{"id": f"q{i}", "x": str(i)} for i in range(4)]

@pytest.mark.llm_task("templates", metric="exact_match", min_quality=0.1)
@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize("case", CASES)
def test_templates(llm, llm_record, template, case):
    llm_record(float(case["x"] == "0"))
'''


def _baseline_of_templates() -> dict:
    """A stored run of the templates task with the same eight cases and scores. Written by
    hand: pytester drops the modules a test imports, and numpy (the analysis's) cannot be
    imported into one process twice."""
    cases = [{"task": "templates", "case_id": f"{q}-{t}", "candidate": "zoo:tiny", "score": float(q == "q0"),
              "status": "scored"} for q in ("q0", "q1", "q2", "q3") for t in ("plain", "polite")]
    row = {"candidate": "zoo:tiny", "n": 8, "quality": 0.25, "lo": 0.07, "hi": 0.59, "loss": 0.75, "cost": 0.01,
           "objective": 7.51}
    task = {"name": "templates", "metric": "exact_match", "higher_is_better": True, "results": [row],
            "selection": {"selected": "zoo:tiny"}, "pareto": ["zoo:tiny"], "alpha_ranges": {"zoo:tiny": [0, None]}}
    return {"schema_version": 1, "settings": {"alpha": 10.0}, "units": {}, "candidates": [{"name": "zoo:tiny"}],
            "tasks": [task], "overall": {"results": [row]}, "selected": "zoo:tiny", "cases": cases}


def test_k_subset_is_recorded_and_case_ids_cover_the_whole_parametrization(accounting_suite):
    pt = accounting_suite
    pt.makepyfile(test_templates=TEMPLATES)
    write_report(_baseline_of_templates(), pt.path / "base.json")
    # Also gated (INCONCLUSIVE on 8 cases) with a min_quality check item: the session ends normally.
    result = pt.runpytest_subprocess("test_mixed.py", "test_templates.py", "--llm-candidates=zoo:tiny",
                                     "-k", "easy or templates", "--llm-report=run.json",
                                     "--benchmark-autosave", "--benchmark-storage=bench", "--llm-baseline=base.json")
    result.assert_outcomes(passed=19, skipped=2, deselected=10)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*gate INCONCLUSIVE against base.json*"])
    report = read_json(pt.path / "run.json")
    assert report["complete"] is True and report["missing"] == []
    assert report["subset"] == {"deselected": 10, "filters": {"-k": "easy or templates"}}
    assert _rows(report)[("mixed", "zoo:tiny")]["n_planned"] == 10
    result.stdout.fnmatch_lines(["*Subset: a subset of the suite's cases was chosen with -k 'easy or templates'*"])
    # Two template dicts x four case dicts, each with an "id": eight cases, not four.
    row = _rows(report)[("templates", "zoo:tiny")]
    assert (row["n"], row["quality"]) == (8, pytest.approx(2 / 8))
    ids = sorted(c["case_id"] for c in report["cases"] if c["task"] == "templates")
    saved = json.loads(next((pt.path / "bench").rglob("*.json")).read_text(encoding="utf-8"))
    assert {b["group"] for b in saved["benchmarks"]} >= {"llm: mixed", "llm-load"}
    assert sorted(tuple(sorted(i.split("-"))) for i in ids) == sorted(
        tuple(sorted((q, t))) for q in ("q0", "q1", "q2", "q3") for t in ("plain", "polite"))


def test_two_tests_with_one_case_id_are_a_usage_error(pytester):
    pytester.makepyfile(test_dup='''
import pytest

@pytest.mark.llm_task("dup", metric="exact_match")
@pytest.mark.parametrize("case", [{"id": "a"}, {"id": "a"}])
def test_dup(llm, llm_record, case):
    llm_record(1.0)
''')
    result = pytester.runpytest_subprocess("--llm-candidates=zoo:tiny")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: task 'dup': case id 'a' belongs to two tests (*case0* and *case1*)*"])


CRASHING = '''
import os
import pytest

@pytest.mark.llm_task("crash", metric="exact_match")
@pytest.mark.parametrize("i", range(4), ids=[f"c{i}" for i in range(4)])
def test_crash(llm, llm_record, i):
    if i == 1:
        os._exit(1)  # the worker dies mid-run
    llm_record(1.0)
'''


def test_crashed_worker_leaves_its_case_and_the_rest_not_run(pytester):
    pytest.importorskip("xdist")
    pytester.makepyfile(test_crash=CRASHING)
    result = pytester.runpytest_subprocess("--llm-candidates=zoo:tiny", "-n", "1", "--benchmark-disable",
                                           "--max-worker-restart=0", "--llm-report=run.json",
                                           "-p", "no:cacheprovider")
    report = read_json(pytester.path / "run.json")
    row = _rows(report)[("crash", "zoo:tiny")]
    # The case that killed the worker and the two after it have no score: all three not run.
    assert (row["n_scored"], row["n_errors"], row["n_missing"], row["n_planned"]) == (1, 0, 3, 4)
    assert report["complete"] is False
    assert [c["case_id"] for c in report["crashed"]] == ["c1"]
    missing = {m["reason"]: m["count"] for m in report["missing"]}
    assert missing["worker crashed"] == 1 and sum(missing.values()) == 3
    assert result.ret != 0


EMPTY_CONTEXT = '''
import pytest
from pytest_llmselect import LoglikelihoodRequest

CASES = [{"id": "a", "context": "ab"}, {"id": "empty", "context": ""}, {"id": "b", "context": "xy"},
         {"id": "long", "context": "x" * 200}]

def request(case):
    return LoglikelihoodRequest(case["context"], "c")

@pytest.mark.llm_task("ll", metric="exact_match", requests=request)
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_ll(llm, llm_record, case):
    result = llm.run(request(case))
    llm_record(1.0, output=str(result.logprob))
'''


def test_one_bad_request_fails_only_its_own_case(pytester):
    # Built in a child process: pytester drops the modules a test imports, and torch cannot
    # be imported into one process twice.
    build = ("import sys; from tests.helpers_tiny_model import build_tiny_model; "
             "build_tiny_model(sys.argv[1], seed=2, eos=False)")  # neither BOS nor EOS
    subprocess.run([sys.executable, "-c", build, str(pytester.path / "no-eos")], cwd=REPO, check=True)
    pytester.makepyfile(test_ll=EMPTY_CONTEXT)
    result = pytester.runpytest_subprocess("--llm-candidates=./no-eos", "--llm-report=run.json", "--benchmark-skip")
    result.assert_outcomes(passed=3, failed=1)
    report = read_json(pytester.path / "run.json")
    cases = {c["case_id"]: c for c in report["cases"]}
    assert (cases["a"]["status"], cases["b"]["status"], cases["empty"]["status"]) == ("scored", "scored", "errored")
    assert "no BOS or EOS token for an empty context" in cases["empty"]["error"]
    row = _rows(report)[("ll", "./no-eos")]
    # The failing batch was split in halves until the bad request stood alone: the good three ran.
    assert (row["n"], row["n_errors"], row["measures"]["requests"]) == (4, 1, 3)

    # Truncation is never silent: 200 + 1 tokens into a 128-position model drops 72 from the left.
    assert cases["long"]["truncated_tokens"] == 72
    assert (row["n_truncated"], row["truncated_tokens"]) == (1, 72)
    result.stdout.fnmatch_lines(["*warning: task 'll', ./no-eos: 1 case(s) had prompts longer than the model's "
                                 "context window; 72 token(s) were dropped*"])
    strict = pytester.runpytest_subprocess("--llm-candidates=./no-eos", "--llm-report=strict.json", "-k", "long",
                                           "--llm-truncation=error")
    strict.assert_outcomes(failed=1, deselected=3)
    (case,) = read_json(pytester.path / "strict.json")["cases"]
    assert case["status"] == "errored" and "72 token(s) would be dropped" in case["error"]
