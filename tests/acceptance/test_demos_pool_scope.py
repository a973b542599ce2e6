"""--llm-demos configurations apply only to tasks with a demonstration pool: a task without
one runs once per model and is reported per model, and each configuration's overall line
counts its model's result there.

Model runs go through a subprocess (see test_plugin_end_to_end.py for why).
"""

from __future__ import annotations

import json
import math

import pytest

from suitekit import ADDITION_SUITE, head_jsonl, read_json
from test_demos_end_to_end import write_lookup_suite

pytestmark = pytest.mark.slow

MODELS = ["zoo:tiny", "zoo:lookup"]
CONFIGS = ["first:1", "random:2"]
CONFIGURATIONS = [f"{m}+{c}" for m in MODELS for c in CONFIGS]


def test_a_task_without_a_pool_runs_once_per_model(pytester: pytest.Pytester):
    write_lookup_suite(pytester, 4, pool_contains_cases=False)  # "lookup": a task with a pool
    data = pytester.mkdir("data")
    (data / "addition.jsonl").write_text(head_jsonl("addition.jsonl", 3), encoding="utf-8")
    pytester.makepyfile(test_addition=ADDITION_SUITE.replace("{extra}", ""))  # "addition": no pool
    result = pytester.runpytest_subprocess(
        f"--llm-candidates={','.join(MODELS)}", f"--llm-demos={','.join(CONFIGS)}", "--llm-cache=off",
        "--llm-benchmark-rounds=1", "--llm-report=run.json", "--llm-run-log=log.jsonl", "-p", "no:cacheprovider",
        "--collect-only", "-q")
    items = [ln for ln in result.outlines if "::" in ln]
    # Items: the task without a pool once per model, the task with one per configuration.
    def candidates(test: str) -> list[str]:  # ids read "CANDIDATE-TASK-NNN"
        return sorted(ln.split("[", 1)[1].rsplit("-", 2)[0] for ln in items if test in ln)

    assert candidates("test_addition") == sorted(m for m in MODELS for _ in range(3))
    assert candidates("test_lookup") == sorted(c for c in CONFIGURATIONS for _ in range(4))

    result = pytester.runpytest_subprocess(
        f"--llm-candidates={','.join(MODELS)}", f"--llm-demos={','.join(CONFIGS)}", "--llm-cache=off",
        "--llm-benchmark-rounds=1", "--llm-report=run.json", "--llm-run-log=log.jsonl", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2 * 3 + 4 * 4)
    report = read_json(pytester.path / "run.json")
    tasks = {t["name"]: t for t in report["tasks"]}
    assert [r["candidate"] for r in tasks["addition"]["results"]] == MODELS
    assert [r["candidate"] for r in tasks["lookup"]["results"]] == CONFIGURATIONS
    assert "demos" not in tasks["addition"] and "demos" in tasks["lookup"]
    # The model work of the task without a pool ran once per model: 3 requests each, nothing more.
    assert {r["candidate"]: r["measures"]["requests"] for r in tasks["addition"]["results"]} == \
        {m: 3 for m in MODELS}
    log = [json.loads(line) for line in (pytester.path / "log.jsonl").read_text().splitlines()]
    ends = [(e["task"], e["candidate"], e["requests"]) for e in log if e.get("event") == "group_end"]
    assert sorted(e for e in ends if e[0] == "addition") == sorted(("addition", m, 3) for m in MODELS)
    assert sum(1 for e in ends if e[0] == "lookup") == len(CONFIGURATIONS)
    # Each model loads once for its own task rows and its configurations.
    assert {c["name"]: c["loads"] for c in report["candidates"]} == {n: 1 for n in [
        "zoo:tiny", *CONFIGURATIONS[:2], "zoo:lookup", *CONFIGURATIONS[2:]]}
    assert {(c["case_id"], c["candidate"]) for c in report["cases"] if c["task"] == "addition"} == \
        {(cid, m) for m in MODELS for cid in {c["case_id"] for c in report["cases"] if c["task"] == "addition"}}

    # The overall compares configurations; each one's line counts its model's addition result.
    overall = report["overall"]
    rows = {r["candidate"]: r for r in overall["results"]}
    assert sorted(rows) == sorted(CONFIGURATIONS)
    add = {r["candidate"]: r for r in tasks["addition"]["results"]}
    look = {r["candidate"]: r for r in tasks["lookup"]["results"]}
    for name, row in rows.items():
        model = name.split("+", 1)[0]
        assert math.isclose(row["cost"], (add[model]["cost"] + look[name]["cost"]) / 2, rel_tol=1e-9)
        assert math.isclose(row["loss"], (add[model]["loss"] + look[name]["loss"]) / 2, rel_tol=1e-9, abs_tol=1e-12)
        assert math.isclose(row["objective"], row["cost"] + report["alpha"] * row["loss"], rel_tol=1e-9)
    best = min(rows.values(), key=lambda r: r["objective"])["objective"]
    assert report["selected"] in CONFIGURATIONS
    assert math.isclose(rows[report["selected"]]["objective"], best, rel_tol=1e-9)
    assert overall["shared"] == {"addition": "each configuration counts its model's result on this task "
                                             "(it has no demonstration pool)"}
    text = result.stdout.str()
    assert "addition · zoo:tiny+" not in text
    result.stdout.fnmatch_lines(["llmselect: addition · zoo:tiny: 3 requests in 1 batch, *"])


def test_under_xdist_the_header_names_only_what_runs(pytester: pytest.Pytester):
    """Every task has a pool: the bare model runs nothing, so the controller's header leaves it out."""
    write_lookup_suite(pytester, 2, pool_contains_cases=False)
    result = pytester.runpytest_subprocess("--llm-candidates=zoo:lookup", f"--llm-demos={','.join(CONFIGS)}",
                                           "--llm-benchmark-rounds=1", "-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2 * 2)
    headers = [ln for ln in result.outlines if ln.startswith("llmselect: ") and "candidate" in ln]
    assert headers == [f"llmselect: 2 candidates (zoo:lookup+first:1, zoo:lookup+random:2); " + headers[0].split("; ", 1)[1]]
    loads = [ln for ln in result.outlines if "llmselect: loading" in ln]
    assert loads and all(ln.endswith("llmselect: loading zoo:lookup") for ln in loads)
