"""Cost figures: present, in their units, with sane relations; pytest-benchmark's files; budgets."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from suitekit import read_json

pytestmark = pytest.mark.slow

TWO = "--llm-candidates=zoo:tiny,zoo:base"


def test_measured_fields_units_and_relations(suite):
    pt = suite(n_addition=16, n_largest=8)
    result = pt.runpytest_subprocess(TWO, "--llm-report=run.json", "--benchmark-json=bench.json",
                                     "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2 * 24)
    report = read_json(pt.path / "run.json")
    assert report["units"]["cost"] == "USD per 1,000 cases" and report["units"]["latency"] == "s"
    params = {c["name"]: c["num_parameters"] for c in report["candidates"]}
    assert params["zoo:base"] > params["zoo:tiny"] > 0
    for cand in report["candidates"]:
        assert cand["price"]["source"] == "default" and cand["price"]["usd_per_hour"] == 1.0
        assert cand["load_seconds"] > 0 and cand["loads"] == 1
    for task in report["tasks"]:
        m = {r["candidate"]: r["measures"] for r in task["results"]}
        for name, fig in m.items():
            assert fig["latency_p95"] >= fig["latency_p50"] > 0
            tokens = fig["input_tokens"] + fig["output_tokens"]
            assert fig["tokens_per_second"] == pytest.approx(tokens / fig["model_seconds"])
            assert fig["flops"] == pytest.approx(2 * params[name] * tokens)
            assert fig["peak_memory_bytes"] > 0 and fig["parallel"] is False
            # Cost is the measured model time at the price, per 1,000 cases.
            r = next(r for r in task["results"] if r["candidate"] == name)
            assert r["cost"] == pytest.approx(fig["model_seconds"] / 3600 * 1.0 * 1000 / r["n"])
        # Same requests for both models, so the bigger model does more FLOPs.
        assert m["zoo:base"]["flops"] > m["zoo:tiny"]["flops"]
        if task["name"] == "addition":
            assert all(f["ttft_p50"] is not None and f["output_tokens"] > 0 for f in m.values())

    bench = json.loads((pt.path / "bench.json").read_text())
    entries = {(b["group"], b["param"]): b for b in bench["benchmarks"]}
    assert {("llm: addition", "zoo:tiny"), ("llm: addition", "zoo:base"), ("llm: largest", "zoo:tiny"),
            ("llm-load", "zoo:base")} <= set(entries)
    # The default: one timed pass (more rounds, where cost can change the pick, come at session end).
    assert entries[("llm: addition", "zoo:tiny")]["stats"]["rounds"] == 1
    compare = subprocess.run([sys.executable, "-m", "pytest_benchmark", "compare", str(pt.path / "bench.json")],
                             capture_output=True, text=True, timeout=120)
    assert compare.returncode == 0, compare.stderr
    assert "addition[zoo:tiny]" in compare.stdout and "llm: largest" in compare.stdout


def test_rounds_and_warmup_are_pedantic_and_do_not_double_count(suite):
    pt = suite(n_addition=8, n_largest=4)
    result = pt.runpytest_subprocess("--llm-candidates=zoo:tiny", "--llm-benchmark-rounds=3",
                                     "--llm-benchmark-warmup=1", "--benchmark-json=bench.json",
                                     "--llm-report=run.json", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=12)
    bench = json.loads((pt.path / "bench.json").read_text())
    add = next(b for b in bench["benchmarks"] if b["group"] == "llm: addition")
    assert add["stats"]["rounds"] == 3
    m = read_json(pt.path / "run.json")["tasks"][0]["results"][0]["measures"]
    assert m["requests"] == 8  # one round's requests, not four rounds' worth


def test_budget_fails_one_named_item_with_value_budget_and_unit(suite):
    pt = suite(n_addition=8, n_largest=4,
               addition_extra=', budgets={"max_latency_p95_s": 0.000001, "min_tokens_per_second": 0.001}')
    result = pt.runpytest_subprocess("--llm-candidates=zoo:tiny", "--llm-report=run.json", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=12, failed=1)
    result.stdout.fnmatch_lines([
        "*_ llm_budget[[]addition-zoo:tiny[]] _*",
        "addition: zoo:tiny over budget: latency_p95 = * s exceeds the budget max_latency_p95_s = 1e-06 s",
    ])
    line = next(ln for ln in result.outlines if ln.startswith("addition: zoo:tiny over budget"))
    assert "tokens_per_second" not in line  # the budget that was met is not reported as failed
    assert read_json(pt.path / "run.json")["tasks"][0]["budgets"]["max_latency_p95_s"] == 0.000001


def test_llm_cost_fixture_reads_the_groups_figures(pytester):
    pytester.makepyfile(test_c='''
import pytest
from pytest_llmselect import GenerateRequest

def request(i):
    return GenerateRequest(f"{i}+{i}=", max_new_tokens=4, stop=("\\n",))

@pytest.mark.llm_task("c", metric="exact_match", requests=request)
@pytest.mark.parametrize("i", range(5))
def test_c(llm, llm_record, llm_cost, i):
    out = llm.run(request(i)).text
    assert llm_cost.requests == 5 and llm_cost.model_seconds > 0
    assert llm_cost.usd_per_1000_cases > 0 and llm_cost["latency_p95"] >= llm_cost.latency_p50
    with pytest.raises(AttributeError, match="no figure 'speed'"):
        llm_cost.speed
    llm_record(1.0, output=out)
''')
    result = pytester.runpytest_subprocess("--llm-candidates=zoo:tiny", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)
