"""The documented options added after test_options_effects.py, each with a working value.

`--llm-demos`, `--llm-cache`, `--llm-cache-path`, `--llm-errors`, `--llm-truncation`,
`--llm-cost-model`, `--llm-latency-sample` and `--llm-cpu-threads`, on the command line and as ini keys. Two pytest
sessions on zoo:tiny, shared by every test of the module (one model load each, 10 cases: the
task with a pool once per configuration, the task without one once):

- ``ini``: every option as an ini key; the cache is written (``readwrite``) to the file named;
- ``cli``: the same suite with every option on the command line, reading (``read``) a copy of
  the cache the ``ini`` run wrote; its arithmetic task asks other sums, so that task's
  requests are computed (and, ``read``, not stored).

Each test asserts the option's effect in the JSON report (or the cache file), recomputed from
the per-case records, never only that the run passed.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from suitekit import REPO, read_json

pytest.importorskip("torch")
pytest.importorskip("transformers")

pytestmark = pytest.mark.slow

# Two tasks: one with a demonstration pool (run per configuration), one without (run once per
# model: a configuration would change nothing there).
LOOKUP_SUITE = '''
from pathlib import Path
import pytest
from pytest_llmselect import GenerateRequest, exact_match, load_jsonl
from pytest_llmselect.demos import DemoPool

CASES = load_jsonl(Path(__file__).parent / "cases.jsonl")
POOL = DemoPool(Path(__file__).parent / "pool.jsonl", input="input", label="label",
                template="{input}={label}\\n", default="first:3")

def request(case, demos):
    return GenerateRequest(demos.text + case["input"] + "=", max_new_tokens=2, stop=("\\n",))

@pytest.mark.llm_task("lookup", metric="exact_match", requests=request, demos=POOL)
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_lookup(llm, llm_record, llm_demos, case):
    output = llm.run(request(case, llm_demos)).text
    llm_record(exact_match(output, case["answer"]), output=output)
'''

# zoo:tiny has 128 positions; the "long" prompt has 202 characters (one token each).
ARITH_SUITE = '''
import pytest
from pytest_llmselect import GenerateRequest, exact_match

SHIFT = {shift}  # the cli run asks other sums: its requests are not in the cache
CASES = [
    {"id": "a1", "prompt": f"{12 + SHIFT}+7=", "answer": str(19 + SHIFT)},
    {"id": "a2", "prompt": f"3+{5 + SHIFT}=", "answer": str(8 + SHIFT)},
    {"id": "long", "prompt": "1+" * 100 + f"{1 + SHIFT}=", "answer": str(101 + SHIFT)},
    {"id": "raises", "prompt": f"2+{2 + SHIFT}=", "answer": str(4 + SHIFT)},
]

def request(case):
    return GenerateRequest(case["prompt"], max_new_tokens=4, stop=("\\n",))

@pytest.mark.llm_task("arith", metric="exact_match", requests=request)
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_arith(llm, llm_record, case):
    output = llm.run(request(case)).text
    if case["id"] == "raises":
        raise RuntimeError("this case's own test is broken")
    llm_record(exact_match(output, case["answer"]), output=output)
'''

N_LOOKUP, N_ARITH = 3, 4
CONFIGS = ("first:1", "random:2")
CANDIDATES = [f"zoo:tiny+{c}" for c in CONFIGS]
MODEL = "zoo:tiny"  # the task without a pool runs on the model alone
SEED = 5

COMMON = {
    "llm_candidates": "zoo:tiny",
    "llm_demos": ",".join(CONFIGS),
    "llm_errors": "exclude",
    "llm_truncation": "error",
    "llm_seed": str(SEED),
    "llm_run_log": "",
}
ONLY = {
    "ini": {"llm_cache": "readwrite", "llm_cache_path": "cache/responses.sqlite",
            "llm_cost_model": "tokens", "llm_latency_sample": "2", "llm_cpu_threads": "1"},
    "cli": {"llm_cache": "read", "llm_cache_path": "copied/responses.sqlite",
            "llm_cost_model": "flops", "llm_latency_sample": "3", "llm_cpu_threads": "2"},
}


def _jsonl(path: Path, n: int, skip: int = 0) -> list[dict[str, Any]]:
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    return [json.loads(ln) for ln in lines[skip:skip + n]]


POOL_ROWS = _jsonl(REPO / "examples" / "fewshot" / "data" / "lookup-pool.jsonl", 40)
CASE_ROWS = _jsonl(REPO / "examples" / "fewshot" / "data" / "lookup.jsonl", N_LOOKUP)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("GITHUB_STEP_SUMMARY", None)
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        env.pop(name, None)  # an inner run under an outer -n must not think it is a worker
    return env


def _results(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True) as db:
        return db.execute("SELECT key, result, batch_id, created, last_used FROM results ORDER BY key").fetchall()


class Run:
    def __init__(self, path: Path, mode: str, proc: subprocess.CompletedProcess[str]) -> None:
        self.path, self.mode, self.proc = path, mode, proc
        self.out = proc.stdout + proc.stderr
        assert (path / "run.json").is_file(), self.out[-4000:]
        self.report: dict[str, Any] = read_json(path / "run.json")

    def row(self, task: str, candidate: str) -> dict[str, Any]:
        t = next(t for t in self.report["tasks"] if t["name"] == task)
        return next(r for r in t["results"] if r["candidate"] == candidate)

    def cases(self, task: str, candidate: str) -> list[dict[str, Any]]:
        return [c for c in self.report["cases"] if c["task"] == task and c["candidate"] == candidate]


def _run(root: Path, mode: str) -> Run:
    (root / "cases.jsonl").write_text("".join(json.dumps(r) + "\n" for r in CASE_ROWS))
    (root / "pool.jsonl").write_text("".join(json.dumps(r) + "\n" for r in POOL_ROWS))
    (root / "test_lookup.py").write_text(LOOKUP_SUITE)
    (root / "test_arith.py").write_text(ARITH_SUITE.replace("{shift}", "1" if mode == "cli" else "0"))
    values = {**COMMON, **ONLY[mode]}
    if mode == "cli":
        (root / "pytest.ini").write_text("[pytest]\n")
        args = [f"--{k.replace('_', '-')}={v}" for k, v in values.items()] + ["--llm-report=run.json"]
    else:
        values["llm_report"] = "run.json"
        (root / "pytest.ini").write_text("[pytest]\n" + "".join(f"{k} = {v}\n" for k, v in values.items()))
        args = []
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", *args], cwd=root,
                          env=_env(), capture_output=True, text=True, timeout=900, check=False)
    # The "raises" and "long" cases fail; the rest pass.
    assert proc.returncode == 1, (proc.stdout + proc.stderr)[-4000:]
    return Run(root, mode, proc)


@pytest.fixture(scope="module")
def ini_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _run(tmp_path_factory.mktemp("ini"), "ini")


@pytest.fixture(scope="module")
def cli_run(ini_run: Run, tmp_path_factory: pytest.TempPathFactory) -> Run:
    root = tmp_path_factory.mktemp("cli")
    (root / "copied").mkdir()
    shutil.copy(ini_run.path / "cache" / "responses.sqlite", root / "copied" / "responses.sqlite")
    before = _results(root / "copied" / "responses.sqlite")
    run = _run(root, "cli")
    run.cache_before = before  # type: ignore[attr-defined]
    return run


@pytest.fixture(params=["ini", "cli"])
def run(request: pytest.FixtureRequest) -> Run:
    return request.getfixturevalue(f"{request.param}_run")


def test_demos_make_one_candidate_per_configuration(run: Run):
    assert [c["name"] for c in run.report["candidates"]] == [MODEL, *CANDIDATES]
    pool_ids = [r["id"] for r in POOL_ROWS]
    for config, cand in zip(CONFIGS, CANDIDATES):
        cases = run.cases("lookup", cand)
        assert len(cases) == N_LOOKUP
        for case in cases:
            assert case["demos"]["config"] == config
            ids = case["demos"]["ids"]
            if config == "first:1":  # file order: the pool's first row (no case is in the pool)
                assert ids == pool_ids[:1]
            else:
                assert len(set(ids)) == 2 and set(ids) <= set(pool_ids)
        # The task without a pool runs once, on the model: no configuration of it runs there.
        assert run.cases("arith", cand) == []
    assert len(run.cases("arith", MODEL)) == N_ARITH and run.cases("lookup", MODEL) == []


def test_random_demos_follow_the_seed(ini_run: Run, cli_run: Run):
    # Same seed, same draw in both runs; and the draw is per case, not one set for all.
    def draws(r: Run) -> dict[str, list[str]]:
        return {c["case_id"]: c["demos"]["ids"] for c in r.cases("lookup", CANDIDATES[1])}

    assert ini_run.report["settings"]["seed"] == cli_run.report["settings"]["seed"] == SEED
    assert draws(ini_run) == draws(cli_run)
    assert len({tuple(ids) for ids in draws(ini_run).values()}) > 1


def test_errors_exclude_leaves_errored_cases_out_of_the_estimate(run: Run):
    assert run.report["settings"]["errors"] == "exclude"
    for cand in [MODEL]:
        cases = {c["case_id"]: c for c in run.cases("arith", cand)}
        assert {k: c["status"] for k, c in cases.items()} == {
            "a1": "scored", "a2": "scored", "long": "errored", "raises": "errored"}
        assert "this case's own test is broken" in cases["raises"]["error"]
        row = run.row("arith", cand)
        scored = [cases[k]["score"] for k in ("a1", "a2")]
        assert (row["n"], row["n_errors"]) == (2, 2)
        # The mean of the scored cases only; "worst" would count the two errored at 0.
        assert row["quality"] == pytest.approx(sum(scored) / 2)


def test_truncation_error_fails_the_overlong_case(run: Run):
    for cand in [MODEL]:
        long = next(c for c in run.cases("arith", cand) if c["case_id"] == "long")
        assert long["status"] == "errored"
        assert "would be dropped (--llm-truncation=error)" in long["error"]
        assert "context window" in long["error"]


def test_cache_readwrite_stores_at_the_path(ini_run: Run):
    path = ini_run.path / "cache" / "responses.sqlite"
    assert path.is_file() and not (ini_run.path / ".llmselect" / "cache.sqlite").exists()
    rows = _results(path)
    # Distinct requests: arith's 4 (run once, by the model) + each configuration's lookup prompts.
    prompts = {c["demos"]["config"] + c["case_id"] for cand in CANDIDATES for c in ini_run.cases("lookup", cand)}
    assert len(rows) == N_ARITH + len(prompts)
    # The task without demonstrations ran its requests once: nothing was there to serve them.
    assert ini_run.row("arith", MODEL)["measures"]["requests"] == N_ARITH
    assert ini_run.row("arith", MODEL)["measures"]["cache_hits"] == 0
    assert all(ini_run.row("lookup", cand)["measures"]["cache_hits"] == 0 for cand in CANDIDATES)


def test_cache_read_serves_what_it_has_and_stores_nothing(cli_run: Run, ini_run: Run):
    path = cli_run.path / "copied" / "responses.sqlite"
    assert not (cli_run.path / ".llmselect" / "cache.sqlite").exists()
    for cand in CANDIDATES:
        m = cli_run.row("lookup", cand)["measures"]
        assert m["requests"] == N_LOOKUP and m["cache_hits"] == N_LOOKUP, (cand, m)
        # Served, not recomputed: the outputs are the ones the ini run computed.
        assert [c["output"] for c in cli_run.cases("lookup", cand)] == [c["output"] for c in ini_run.cases("lookup", cand)]
    # The other sums are computed, once, by the model.
    m = cli_run.row("arith", MODEL)["measures"]
    assert m["requests"] == N_ARITH and m["cache_hits"] == 0, m
    # Read never writes: not even the last-used times change.
    assert _results(path) == cli_run.cache_before  # type: ignore[attr-defined]


# USD per million input / output tokens and per PFLOP assumed without a configured price
# (README, "Cost models").
TOKENS_IN, TOKENS_OUT, PER_PFLOP = 0.10, 0.40, 0.002


def test_cost_model_and_latency_sample(run: Run):
    model = ONLY[run.mode]["llm_cost_model"]
    sample = int(ONLY[run.mode]["llm_latency_sample"])
    assert run.report["settings"]["cost_model"] == model
    for task, cands in (("lookup", CANDIDATES), ("arith", [MODEL])):
        for cand in cands:
            row = run.row(task, cand)
            m = row["measures"]
            assert m["cost_model"] == model and model in row["cost_method"]
            if model == "tokens":
                usd = (m["input_tokens"] * TOKENS_IN + m["output_tokens"] * TOKENS_OUT) / 1e6
            else:  # flops: 2 x parameters x tokens FLOPs
                params = next(c["num_parameters"] for c in run.report["candidates"] if c["name"] == cand)
                assert m["flops"] == 2 * params * (m["input_tokens"] + m["output_tokens"])
                usd = m["flops"] / 1e15 * PER_PFLOP
            assert row["cost"] == pytest.approx(usd * 1000 / row["n"], rel=1e-12)
            assert row["cost_lo"] == row["cost_hi"] == pytest.approx(row["cost"])  # exact: no interval
            # Requests timed alone at batch size 1: a sample of the group's computed requests.
            assert m["request_latency_n"] == min(sample, m["requests"] - m["cache_hits"]), (task, cand, m)
    assert any(run.row(t, c)["measures"]["request_latency_n"] == sample
               for t, cands in (("lookup", CANDIDATES), ("arith", [MODEL])) for c in cands)


def test_cpu_threads_set_torch_threads(run: Run):
    """--llm-cpu-threads / llm_cpu_threads: the threads torch ran the local models with."""
    assert run.report["machine"]["torch_threads"] == int(ONLY[run.mode]["llm_cpu_threads"])
