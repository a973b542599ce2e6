"""Cost you can trust: deterministic cost models agree across runs and candidate orders;
the report names the cost model, the candidate's own memory and its method, and explains
its abbreviations."""

from __future__ import annotations

import subprocess
import sys

import pytest

from suitekit import read_json

pytestmark = pytest.mark.slow

# Few cases: these runs check what does not depend on timing.
FAST = ("--llm-latency-sample=2", "--llm-cache=off", "-p", "no:cacheprovider")


def _figures(report: dict) -> dict:
    out = {}
    for task in report["tasks"]:
        for r in task["results"]:
            out[(task["name"], r["candidate"])] = (r["cost"], r["cost_lo"], r["cost_hi"], r["objective"],
                                                   r["measures"]["flops"], r["measures"]["input_tokens"],
                                                   r["measures"]["output_tokens"])
    return out


def test_tokens_and_flops_cost_models_give_identical_figures_on_two_runs_in_both_orders(suite):
    """Run 1: tiny first, tokens model; run 2: small first, flops model. Each saved run is then
    re-costed under the other model (no model runs again), so each model's figures are
    compared across two runs in both orders."""
    pt = suite(n_addition=6, n_largest=4)
    runs = {}
    # Rounds: the flops run leaves them at 'auto' (exact cost: one round is enough, so one is
    # run); the tokens run asks for two, and an explicit number always wins.
    rounds = {"tokens": ("--llm-benchmark-rounds=2",), "flops": ()}
    for order, model in (("zoo:tiny,zoo:small", "tokens"), ("zoo:small,zoo:tiny", "flops")):
        result = pt.runpytest_subprocess(f"--llm-candidates={order}", f"--llm-cost-model={model}",
                                         f"--llm-report={model}.json", *rounds[model], *FAST,
                                         "-v")  # the method text and the legend: in the terminal with -v
        result.assert_outcomes(passed=20)
        result.stdout.fnmatch_lines([f"Cost model: {model}: *", "*--- Legend ---*", "MDE: *", "p adj: *",
                                     "McNemar: *", "Tango: *", "p < 0.0005: *", "TTFT: *"])
        runs[model] = read_json(pt.path / f"{model}.json")
        assert runs[model]["settings"]["cost_model"] == model
        assert all(r["measures"]["cost_model"] == model for t in runs[model]["tasks"] for r in t["results"])
        assert {len(r["measures"]["round_seconds"]) for t in runs[model]["tasks"] for r in t["results"]} \
            == {2 if rounds[model] else 1}
    other = {"tokens": "flops", "flops": "tokens"}
    for model, report in runs.items():
        recosted = subprocess.run(
            [sys.executable, "-m", "pytest_llmselect", "report", str(pt.path / f"{model}.json"),
             f"--cost-model={other[model]}", "--format=json", "-o", str(pt.path / f"{model}-as-{other[model]}.json")],
            capture_output=True, text=True, timeout=120)
        assert recosted.returncode == 0, recosted.stderr
    for model in ("tokens", "flops"):
        native, again = runs[model], read_json(pt.path / f"{other[model]}-as-{model}.json")
        assert again["settings"]["cost_model"] == model
        assert _figures(native) == _figures(again)  # bit for bit, whichever candidate ran first
        assert native["selected"] == again["selected"]
        for cost, lo, hi, *_ in _figures(native).values():
            assert cost == lo == hi and cost > 0
        assert all(r["cost_method"].startswith("exact") for t in native["tasks"] for r in t["results"])
    # The candidate's own weights do not depend on load order either.
    weights = [{c["name"]: c["parameter_bytes"] + c["buffer_bytes"] for c in r["candidates"]} for r in runs.values()]
    assert weights[0] == weights[1] and weights[0]["zoo:small"] > weights[0]["zoo:tiny"] > 0


def test_time_cost_has_an_interval_memory_is_the_candidates_and_latency_is_named(suite):
    pt = suite(n_addition=6, n_largest=4)
    result = pt.runpytest_subprocess("--llm-candidates=zoo:tiny,zoo:small", "--llm-latency-sample=3",
                                     "--llm-cpu-threads=1", "--llm-benchmark-rounds=3",
                                     "--llm-report=run.json", "--llm-report=run.md", "-p", "no:cacheprovider",
                                     "-v")  # the energy line is method text: in the terminal with -v
    result.assert_outcomes(passed=20)
    result.stdout.fnmatch_lines(["Energy: *", "*batch p95 s*req p50 s*",
                                 "*peak MiB: the candidate's own memory: weights + *"])
    report = read_json(pt.path / "run.json")
    for task in report["tasks"]:
        for r in task["results"]:
            m = r["measures"]
            assert len(m["round_seconds"]) == 3 and m["warmup_seconds"] > 0
            assert r["cost_lo"] <= r["cost"] <= r["cost_hi"] and "3 timing rounds" in r["cost_method"]
            assert r["objective_lo"] <= r["objective"] <= r["objective_hi"]
            assert m["request_latency_n"] == 3 and m["request_latency_p50"] > 0
            assert m["memory_method"] in ("rss_peak_growth", "rss_growth", "cuda_allocator_peak")
            assert m["peak_memory_bytes"] is not None
        assert "cost_within_noise" in task["selection"] and "alpha_boundaries" in task
    assert report["machine"]["torch_threads"] == 1  # --llm-cpu-threads
    assert isinstance(report["machine"]["load_average_1min"], float)
    energy = report["energy"]
    assert isinstance(energy["available"], bool)
    if not energy["available"]:  # said plainly, with the reason
        assert all(d["reason"] for d in energy["devices"].values())
    md = (pt.path / "run.md").read_text(encoding="utf-8")
    assert "### Legend" in md and "**MDE:**" in md and "**Cost model:** time" in md
