"""A run whose candidates are all served never imports torch or transformers.

Importing them costs seconds per pytest session (more than the model work of a small suite
against a fast server), and a served-only user may not have them installed at all. A fault
server answering a fixed completion stands in for the model: what is checked is which
modules the plugin pulled into the process, read at the very end of the session.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("httpx")
pytest.importorskip("tenacity")
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from tests.served_kit import FaultProxy  # noqa: E402

HEAVY = ("torch", "transformers", "scipy.stats")

WATCH = f'''
import json, sys

def pytest_unconfigure(config):
    if not hasattr(config, "workerinput"):
        with open("modules.json", "w") as out:
            json.dump({{name: name in sys.modules for name in {HEAVY!r}}}, out)
'''

SUITE = '''
import pytest
from pytest_llmselect import GenerateRequest, exact_match

CASES = [{"id": f"c{i}", "prompt": f"{i}+1=", "answer": "ok"} for i in range(6)]

def request(case):
    return GenerateRequest(case["prompt"], max_new_tokens=4, stop=("\\n",))

@pytest.mark.llm_task("echo", metric="exact_match", requests=request)
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_echo(llm, llm_record, case):
    output = llm.run(request(case)).text
    llm_record(exact_match(output, case["answer"]), output=output)
'''


def test_served_only_run_imports_neither_torch_transformers_nor_scipy_stats(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(WATCH)
    pytester.makepyfile(test_echo=SUITE)
    proxy = FaultProxy()
    with proxy.serve() as server:
        result = pytester.runpytest_subprocess(f"--llm-candidates=openai:canned@{server.base_url}",
                                               "--llm-report=run.json", "--llm-run-log=run.jsonl")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["llmselect: 1 candidate (openai:canned@*); served models only, no local device;*"])
    # The requests really went to the server and the report was written: the run did its work.
    assert len(proxy.attempts) == 6
    report = json.loads((pytester.path / "run.json").read_text(encoding="utf-8"))
    (row,) = [r for t in report["tasks"] for r in t["results"]]
    assert row["quality"] == 1.0
    # A served model is timed in one round, without a warm-up batch or a separate latency
    # sample (6 requests in all, above): its requests are paid for, and each one's round trip
    # is already its own per-request latency.
    m = row["measures"]
    assert len(m["round_seconds"]) == 1 and m["request_latency_n"] == 6
    # Six independent round trips bound both ends of the median at 95% (0.5**6 < 0.025): the
    # slowest and fastest; p95 needs 72 for its upper end. Each request's TTFT is its own too.
    assert m["request_latency_p50_lo"] <= m["request_latency_p50"] <= m["request_latency_p50_hi"]
    assert m["request_latency_p95_lo"] is not None and m["request_latency_p95_hi"] is None
    assert m["ttft_p50_lo"] <= m["ttft_p50"] <= m["ttft_p50_hi"]
    imported = json.loads((pytester.path / "modules.json").read_text(encoding="utf-8"))
    assert imported == {name: False for name in HEAVY}


def test_a_request_the_server_refuses_fails_its_case_in_one_line_and_nothing_else(pytester: pytest.Pytester) -> None:
    """The server refuses one prompt (HTTP 400, not retried): that case fails with one line
    naming the candidate and the server's answer, no traceback through the plugin; the other
    five are scored, and each request was sent once."""
    pytester.makepyfile(test_echo=SUITE)
    proxy = FaultProxy(reject_prompt="3+1=")
    with proxy.serve() as server:
        result = pytester.runpytest_subprocess(f"--llm-candidates=openai:canned@{server.base_url}",
                                               "--llm-report=run.json", "--llm-run-log=")
    result.assert_outcomes(passed=5, failed=1)
    failure = [line for line in result.outlines if line.startswith("RequestFailedError:")]
    assert len(failure) == 1 and "could not run a request of this case" in failure[0] and "HTTP 400" in failure[0]
    assert not any("Traceback" in line or "pytest_llmselect/" in line for line in result.outlines)
    assert len(proxy.attempts) == 6
    report = json.loads((pytester.path / "run.json").read_text(encoding="utf-8"))
    statuses = sorted(c["status"] for c in report["cases"])
    assert statuses == ["errored"] + ["scored"] * 5


def test_a_server_that_stops_answering_leaves_its_cases_not_run_not_scored(pytester: pytest.Pytester) -> None:
    """Found by a new-user trial: when the server died mid-run, every remaining case was retried,
    failed, and counted at the metric's worst value, so the outage read as model quality (and a
    gate would have failed the model). Here every completion stalls past the timeout while the
    server's health check still answers: each request is tried twice, and every case is 'not
    run' with the reason named: a partial report, no errored case."""
    pytester.makepyfile(test_echo=SUITE)
    proxy = FaultProxy(script=["stall:3"] * 50)
    with proxy.serve() as server:
        (pytester.path / "served.toml").write_text(
            f'[[candidate]]\nname = "served"\nbase_url = "{server.base_url}"\nmodel = "canned"\n'
            "max_concurrency = 1\ntimeout_s = 0.3\nmax_retries = 1\n", encoding="utf-8")
        result = pytester.runpytest_subprocess("--llm-candidates=@served.toml", "--llm-report=run.json",
                                               "--llm-run-log=")
    result.assert_outcomes(failed=6)
    lines = [line for line in result.outlines if line.startswith("ServerFailed:")]
    assert len(lines) == 6 and all("timed out" in line for line in lines)
    assert not any("Traceback" in line for line in result.outlines)
    assert len(proxy.attempts) == 12  # each request and its one retry: the server's check answered
    report = json.loads((pytester.path / "run.json").read_text(encoding="utf-8"))
    assert report["complete"] is False and report["cases"] == []
    assert report["missing"] == [{"task": "echo", "candidate": "served", "count": 6,
                                  "reason": "not run: its server failed (timed out)"}]
    result.stdout.fnmatch_lines(["*PARTIAL RUN: 6 planned case(s) not run*"])
