"""Nothing lost: a SIGKILLed run resumes from the response cache, recomputing no finished request, and
ends with the same quality figures as an uninterrupted run; a fully cached re-run keeps the cost figures
measured when the results were computed."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from suitekit import read_json

pytestmark = pytest.mark.slow

# Kills its own pytest process with SIGKILL when the Nth loglikelihood batch starts, so the
# kill lands at a known point: every earlier batch has finished (and been stored), that one has not.
KILL_CONFTEST = '''
import os, signal
AT = int(os.environ.get("KILL_AT_LL_BATCH", "0"))
if AT:
    from pytest_llmselect.backends import hf
    real, calls = hf.HFBackend.loglikelihood, []
    def loglikelihood(self, requests, batch_size=16):
        calls.append(len(requests))
        if len(calls) == AT:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(self, requests, batch_size)
    hf.HFBackend.loglikelihood = loglikelihood
'''

# No untimed warm-up batch: the kill point counts model calls, and a warm-up would be one more
# call before the stored work, moving the kill off the batch boundary the test reasons about.
# One timed round: the kill point counts model calls, and each extra round is more calls.
ARGS = ("--llm-candidates=zoo:tiny", "--llm-batch-size=4", "--llm-benchmark-warmup=0", "--llm-benchmark-rounds=1",
        "-p", "no:cacheprovider")


def _quality(report: dict) -> dict:
    return {(t["name"], r["candidate"]): {k: r[k] for k in ("n", "quality", "lo", "hi", "loss", "objective")
                                          if k in r and k != "objective"}
            for t in report["tasks"] for r in t["results"]}


def _cases(report: dict) -> list:
    return sorted((c["task"], c["case_id"], c["candidate"], c["score"], c["output"]) for c in report["cases"])


def _measures(report: dict) -> dict:
    return {(t["name"], r["candidate"]): r["measures"] for t in report["tasks"] for r in t["results"]}


def _stored(path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT COUNT(*) FROM results").fetchone()[0]


def test_sigkill_then_rerun_recomputes_nothing_and_matches_an_uninterrupted_run(suite, monkeypatch):
    pt = suite(n_addition=8, n_largest=6)
    pt.makeconftest(KILL_CONFTEST)
    # The reference: an uninterrupted run with a cache of its own.
    pt.runpytest_subprocess(*ARGS, "--llm-cache-path=reference.sqlite", "--llm-report=whole.json"
                            ).assert_outcomes(passed=14)
    whole = read_json(pt.path / "whole.json")
    total = sum(m["requests"] for m in _measures(whole).values())
    assert total == _stored(pt.path / "reference.sqlite") and all(
        m["cache_hits"] == 0 for m in _measures(whole).values())

    monkeypatch.setenv("KILL_AT_LL_BATCH", "3")
    killed = pt.runpytest_subprocess(*ARGS, "--llm-report=killed.json")
    assert killed.ret == -9  # SIGKILL: no report, no session finish
    assert not (pt.path / "killed.json").exists()
    cache = pt.path / ".llmselect" / "cache.sqlite"
    stored_before_kill = _stored(cache)
    addition = _measures(whole)[("addition", "zoo:tiny")]["requests"]
    assert stored_before_kill == addition + 2 * 4  # every addition request and two finished batches of 4

    monkeypatch.delenv("KILL_AT_LL_BATCH")
    pt.runpytest_subprocess(*ARGS, "--llm-report=resumed.json").assert_outcomes(passed=14)
    resumed = read_json(pt.path / "resumed.json")
    measures = _measures(resumed)
    hits = sum(m["cache_hits"] for m in measures.values())
    computed = sum(m["requests"] - m["cache_hits"] for m in measures.values())
    assert hits == stored_before_kill          # everything finished before the kill came from the cache
    assert computed == total - stored_before_kill  # and nothing finished was computed again
    assert _stored(cache) == total
    assert _quality(resumed) == _quality(whole) and _cases(resumed) == _cases(whole)
    assert resumed["selected"] == whole["selected"]

    # A fully cached re-run: no model work, and the cost figures measured when computed.
    again = pt.runpytest_subprocess(*ARGS, "--llm-report=again.json")
    again.assert_outcomes(passed=14)
    cached = _measures(read_json(pt.path / "again.json"))
    for key, m in cached.items():
        first = measures[key]
        assert m["cache_hits"] == m["requests"] == first["requests"]
        for figure in ("input_tokens", "output_tokens", "batches", "latency_p50", "latency_p95"):
            assert m[figure] == first[figure], figure
        assert m["model_seconds"] == pytest.approx(first["model_seconds"], rel=1e-9)
    assert any("cached" in line for line in again.outlines)  # the measures table marks cached figures

    # The run log kept all four runs; the killed one builds a report marked partial.
    log = pt.path / ".llmselect" / "run-log.jsonl"
    events = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    runs = list(dict.fromkeys(e["run_id"] for e in events))
    assert len(runs) == 4
    finished = {e["run_id"] for e in events if e["event"] == "finish"}
    assert finished == {runs[0], runs[2], runs[3]}
    # The last run, which finished, rebuilt from its lines: complete, with the same figures.
    out = subprocess.run([sys.executable, "-m", "pytest_llmselect", "report", str(log), "--format", "json",
                          "-o", "last.json"], capture_output=True, text=True, cwd=pt.path)
    assert out.returncode == 0, out.stderr
    last = read_json(pt.path / "last.json")
    assert last["complete"] is True and last["partial"] is False and last["run_id"] == runs[3]
    assert _quality(last) == _quality(whole) and _measures(last) == cached
    out = subprocess.run([sys.executable, "-m", "pytest_llmselect", "report", str(log), "--run-id", runs[1],
                          "--format", "json", "-o", "partial.json"], capture_output=True, text=True, cwd=pt.path)
    assert out.returncode == 0, out.stderr
    partial = read_json(pt.path / "partial.json")
    assert partial["partial"] is True and partial["complete"] is False
    assert [t["name"] for t in partial["tasks"]] == ["addition"]  # the task that finished before the kill
    assert _quality(partial)[("addition", "zoo:tiny")] == _quality(whole)[("addition", "zoo:tiny")]


def test_a_fully_cached_rerun_reports_the_cost_and_interval_of_the_run_that_computed_it(suite):
    """Three timed rounds (the default): the cache keeps the first round's batches and how each
    round compares with it, so a re-run served wholly from the cache rebuilds the rounds: same
    model seconds, cost and cost interval. Before, it kept only the first round: a new user saw
    zoo:base's cost fall from 0.002967 to 0.000831 and a gate's cost ratio move from 0.72 to 3.87."""
    pt = suite(n_addition=6, n_largest=4)
    args = ("--llm-candidates=zoo:tiny,zoo:small", "--llm-benchmark-rounds=3", "--llm-cpu-threads=1",
            "-p", "no:cacheprovider")
    pt.runpytest_subprocess(*args, "--llm-report=computed.json").assert_outcomes(passed=20)
    pt.runpytest_subprocess(*args, "--llm-report=cached.json").assert_outcomes(passed=20)
    computed, cached = read_json(pt.path / "computed.json"), read_json(pt.path / "cached.json")
    rows = {(t["name"], r["candidate"]): r for t in computed["tasks"] for r in t["results"]}
    for task in cached["tasks"]:
        for r in task["results"]:
            first = rows[(task["name"], r["candidate"])]
            m, m0 = r["measures"], first["measures"]
            assert m["cache_hits"] == m["requests"] == m0["requests"] and m0["cache_hits"] == 0
            assert len(m0["round_seconds"]) == 3 and len(m["round_seconds"]) == 3
            assert m["round_seconds"] == pytest.approx(m0["round_seconds"], rel=1e-9)
            assert m["model_seconds"] == pytest.approx(m0["model_seconds"], rel=1e-9)
            for key in ("cost", "cost_lo", "cost_hi"):
                assert r[key] == pytest.approx(first[key], rel=1e-9), key
