"""--llm-max-memory with a race and real zoo models: loaded models kept under the budget, so a
race's stages reload only what did not fit; a budget of one model holds one model at a time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from suitekit import read_json

CANDIDATES = ("zoo:tiny", "zoo:small", "zoo:base")
ARGS = ("-p", "no:cacheprovider", f"--llm-candidates={','.join(CANDIDATES)}", "--llm-cache=off",
        "--llm-cpu-threads=1", "--llm-latency-sample=0", "--llm-alpha=0.001", "--llm-race=8",
        "--llm-run-log=run.jsonl")


def held_over_time(path: Path, weights: dict[str, int] | None = None) -> tuple[dict[str, int], int, int]:
    """Loads per candidate, the most models held at once and the most weight bytes held at once,
    from the run log's load and unload lines."""
    loads: dict[str, int] = {}
    held: set[str] = set()
    peak = peak_bytes = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        kind, name = entry.get("event"), entry.get("candidate")
        if kind == "load_end" and "error" not in entry:
            loads[name] = loads.get(name, 0) + 1
            held.add(name)
            peak = max(peak, len(held))
            peak_bytes = max(peak_bytes, sum((weights or {}).get(h, 0) for h in held))
        elif kind == "unload":
            held.discard(name)
    return loads, peak, peak_bytes


@pytest.fixture
def raced(suite):
    pytester = suite(n_addition=32, n_largest=0)
    (pytester.path / "test_largest.py").unlink()
    return pytester


def test_a_budget_that_fits_all_loads_each_model_once_across_the_stages(raced) -> None:
    result = raced.runpytest_subprocess(*ARGS, "--llm-max-memory=5GB", "--llm-report=r.json")
    report = read_json(raced.path / "r.json")
    stages = report["race"]["tasks"][0]["stages_run"]
    assert stages >= 3, result.stdout.str()  # the alpha is tiny: nobody is dropped early
    loads, peak, _ = held_over_time(raced.path / "run.jsonl")
    assert loads == {c: 1 for c in CANDIDATES}
    assert peak == len(CANDIDATES)
    assert {c["name"]: c["loads"] for c in report["candidates"]} == {c: 1 for c in CANDIDATES}


def test_a_budget_of_one_model_holds_one_at_a_time_and_reloads_per_stage(raced) -> None:
    raced.runpytest_subprocess(*ARGS, "--llm-max-memory=1kB", "--llm-report=r.json")
    report = read_json(raced.path / "r.json")
    stages = report["race"]["tasks"][0]["stages_run"]
    loads, peak, _ = held_over_time(raced.path / "run.jsonl")
    assert peak == 1
    # Reloads happen (more loads than models), never more than one per stage a model ran in: a
    # model last in one stage starts the next without a reload; a candidate raced out loads no more.
    assert sum(loads.values()) > len(CANDIDATES) and max(loads.values()) <= stages


def test_the_default_budget_keeps_small_models_together_and_holds_no_more_than_the_largest(raced) -> None:
    raced.runpytest_subprocess(*ARGS, "--llm-report=r.json")
    report = read_json(raced.path / "r.json")
    stages = report["race"]["tasks"][0]["stages_run"]
    weights = {c["name"]: c["parameter_bytes"] + c["buffer_bytes"] for c in report["candidates"]}
    assert weights["zoo:tiny"] + weights["zoo:small"] < weights["zoo:base"]  # what the test relies on
    loads, peak, peak_bytes = held_over_time(raced.path / "run.jsonl", weights)
    assert stages >= 3
    assert peak == 2 and peak_bytes == max(weights.values())  # tiny and small held together, never with base
    assert sum(loads.values()) < stages * len(CANDIDATES)


def test_a_bad_budget_is_one_line(raced) -> None:
    result = raced.runpytest_subprocess(*ARGS, "--llm-max-memory=lots")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--llm-max-memory must be 'auto' or a size such as 2GB or 500MB, got 'lots'*"])


def test_a_race_times_one_latency_sample_per_group_not_one_per_stage(raced) -> None:
    args = [a for a in ARGS if not a.startswith("--llm-latency-sample")]
    raced.runpytest_subprocess(*args, "--llm-latency-sample=4", "--llm-report=r.json")
    report = read_json(raced.path / "r.json")
    assert report["race"]["tasks"][0]["stages_run"] >= 3
    for row in report["tasks"][0]["results"]:
        assert row["measures"]["request_latency_n"] == 4, row["candidate"]
