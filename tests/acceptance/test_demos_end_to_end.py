"""Few-shot demonstrations end to end: pools, --llm-demos configurations as candidates,
one model load for all of a model's configurations, and the zoo's lookup task.

Model runs go through a subprocess (see test_plugin_end_to_end.py for why).
"""

from __future__ import annotations

import json

import pytest

from suitekit import read_json

from pytest_llmselect.demos import normalize_input
from pytest_llmselect.zoo.lookup import lookup_eval, lookup_pool

pytestmark = pytest.mark.slow

from pytest_llmselect.demos import parse_demo_configs  # noqa: E402
from pytest_llmselect.demos.config import missing_extra  # noqa: E402

_MISSING = missing_extra(parse_demo_configs("knn:1,bm25:1"))
needs_demos_extra = pytest.mark.skipif(_MISSING is not None, reason=str(_MISSING))

LOOKUP_SUITE = '''
import json
from pathlib import Path
import pytest
from pytest_llmselect import GenerateRequest, exact_match, load_jsonl
from pytest_llmselect.demos import DemoPool

CASES = load_jsonl(Path(__file__).parent / "cases.jsonl")
POOL = DemoPool(Path(__file__).parent / "pool.jsonl", input="input", label="label",
                template="{input}={label}\\n", default="first:2")

def request(case, demos):
    return GenerateRequest(demos.text + case["input"] + "=", max_new_tokens=2, stop=("\\n",))

@pytest.mark.llm_task("lookup", metric="exact_match", requests=request, demos=POOL)
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_lookup(llm, llm_record, llm_demos, case):
    output = llm.run(request(case, llm_demos)).text
    llm_record(exact_match(output, case["answer"]), output=output)
'''


def jsonl(rows) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def write_lookup_suite(pt: pytest.Pytester, n_cases: int, *, pool_contains_cases: bool) -> list[dict]:
    cases = lookup_eval()[:n_cases]
    words = {c["input"].split()[0] for c in cases}
    # The cases' own words plus distractors: small enough to be cheap, large enough that
    # random demonstrations rarely hold a case's word.
    pool = [r for r in lookup_pool() if r["input"].split()[0] in words]
    pool += [r for r in lookup_pool() if r["input"].split()[0] not in words][:150]
    if pool_contains_cases:
        # The evaluation cases themselves (same id), and a duplicate of each (same normalised input).
        pool += [{"id": c["id"], "input": c["input"], "label": c["answer"]} for c in cases]
        pool += [{"id": f"dup-{c['id']}", "input": "  " + c["input"].upper().replace(" ", "\t"),
                  "label": c["answer"]} for c in cases]
    pt.path.joinpath("cases.jsonl").write_text(jsonl(cases), encoding="utf-8")
    pt.path.joinpath("pool.jsonl").write_text(jsonl(pool), encoding="utf-8")
    pt.makepyfile(test_lookup=LOOKUP_SUITE)
    return cases


@needs_demos_extra
def test_configurations_share_one_load_and_record_their_demonstrations(pytester: pytest.Pytester):
    cases = write_lookup_suite(pytester, 6, pool_contains_cases=True)
    result = pytester.runpytest_subprocess(
        "--llm-candidates=zoo:tiny", "--llm-demos=random:3,knn:3,bm25:2,mmr:3:as_drawn",
        "--llm-report=run.json", "--llm-report=run.md", "--llm-run-log=log.jsonl", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4 * 6)
    report = read_json(pytester.path / "run.json")
    names = ["zoo:tiny+random:3", "zoo:tiny+knn:3", "zoo:tiny+bm25:2", "zoo:tiny+mmr:3:as_drawn"]
    cands = {c["name"]: c for c in report["candidates"]}
    assert list(cands) == names
    # One load served all four configurations of the model, the timing at session end included
    # (four configurations of one model tie on cost, so they are timed again: the model stays).
    assert {n: (c["loads"], c["model"]) for n, c in cands.items()} == {n: (1, "zoo:tiny") for n in names}
    assert any(r["measures"]["timing_rounds_reason"] for t in report["tasks"] for r in t["results"])
    assert report["tasks"][0]["demos"]["size"] > 0

    by_id = {c["id"]: c for c in cases}
    pool = {json.loads(line)["id"]: json.loads(line) for line in (pytester.path / "pool.jsonl").read_text().splitlines()}
    logged = [json.loads(line) for line in (pytester.path / "log.jsonl").read_text().splitlines()]
    logged = [e for e in logged if e.get("event", "case") == "case"]  # the run log also holds run events
    assert len(report["cases"]) == len(logged) == 24
    for rec in [*report["cases"], *logged]:
        config = rec["candidate"].split("+", 1)[1]
        assert rec["demos"]["config"] == config
        ids = rec["demos"]["ids"]
        assert len(ids) == int(config.split(":")[1]) and len(set(ids)) == len(ids)
        case = by_id[rec["case_id"]]
        # Never itself, never a duplicate of itself: the pool holds both.
        assert rec["case_id"] not in ids and f"dup-{rec['case_id']}" not in ids
        assert all(normalize_input(pool[i]["input"]) != normalize_input(case["input"]) for i in ids)

    def same_word_share(config: str) -> float:
        recs = [r for r in report["cases"] if r["candidate"] == f"zoo:tiny+{config}"]
        hits = [pool[i]["input"].split()[0].lower() == by_id[r["case_id"]]["input"].split()[0]
                for r in recs for i in r["demos"]["ids"]]
        return sum(hits) / len(hits)

    # Similarity strategies find the case's word; random draws rarely do.
    assert same_word_share("knn:3") > same_word_share("random:3")
    assert same_word_share("bm25:2") > same_word_share("random:3")
    # knn orders most similar last: the last demonstration is a variant of the case's word.
    for r in report["cases"]:
        if r["candidate"] == "zoo:tiny+knn:3":
            assert pool[r["demos"]["ids"][-1]]["input"].split()[0] == by_id[r["case_id"]]["input"].split()[0]

    text = result.stdout.str()
    assert "Demonstrations side by side" in text
    result.stdout.fnmatch_lines(["*zoo:tiny*obj*"])
    assert "Demonstrations side by side" in (pytester.path / "run.md").read_text()


def test_ini_key_and_the_pool_default(pytester: pytest.Pytester):
    write_lookup_suite(pytester, 3, pool_contains_cases=False)
    pytester.makeini("[pytest]\nllm_demos = first:1\n")
    result = pytester.runpytest_subprocess("--llm-candidates=zoo:tiny", "--llm-report=run.json",
                                           "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    report = read_json(pytester.path / "run.json")
    assert [c["name"] for c in report["candidates"]] == ["zoo:tiny+first:1"]
    assert all(len(c["demos"]["ids"]) == 1 for c in report["cases"])
    # Without --llm-demos or the ini key the task's pool default ("first:2") applies.
    pytester.makeini("[pytest]\n")
    result = pytester.runpytest_subprocess("--llm-candidates=zoo:tiny", "--llm-report=run.json",
                                           "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    report = read_json(pytester.path / "run.json")
    assert [c["name"] for c in report["candidates"]] == ["zoo:tiny"]
    assert {c["demos"]["config"] for c in report["cases"]} == {"first:2"}


@pytest.mark.parametrize("args, message", [
    (["--llm-demos=knn:4"], "ERROR: --llm-demos: *knn*needs the optional extra 'demos': "
                            "pip install 'pytest-llmselect[[]demos[]]'*"),
    (["--llm-demos=bm25:2"], "ERROR: --llm-demos: *bm25*pytest-llmselect[[]demos[]]*"),
    (["--llm-demos=knn:x"], "ERROR: --llm-demos: k must be a whole number*"),
])
def test_usage_errors(pytester: pytest.Pytester, args, message):
    write_lookup_suite(pytester, 2, pool_contains_cases=False)
    # As if the extra were not installed: importing its modules fails.
    pytester.makeconftest("import sys\nfor m in ('sentence_transformers', 'bm25s'):\n    sys.modules[m] = None\n")
    result = pytester.runpytest_subprocess("--llm-candidates=zoo:tiny", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert len([ln for ln in result.stderr.lines if ln.startswith("ERROR")]) == 1


@needs_demos_extra
def test_lookup_model_needs_nearest_demonstrations(pytester: pytest.Pytester):
    """The zoo's lookup task: kNN demonstrations beat random ones at equal k."""
    write_lookup_suite(pytester, 24, pool_contains_cases=False)
    result = pytester.runpytest_subprocess(
        "--llm-candidates=zoo:lookup", "--llm-demos=random:4,knn:4", "--llm-report=run.json",
        "-p", "no:cacheprovider")
    result.assert_outcomes(passed=48)
    report = read_json(pytester.path / "run.json")
    (task,) = report["tasks"]
    quality = {r["candidate"]: r["quality"] for r in task["results"]}
    assert quality["zoo:lookup+knn:4"] > quality["zoo:lookup+random:4"] + 0.3
    assert task["selection"]["selected"] == "zoo:lookup+knn:4"
