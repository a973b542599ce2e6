"""A served run killed, interrupted or facing an outage, end to end against our fault server.

Found by a hostile trial on a 2,000-case served run: SIGKILL after 245 answers stored none of
them, Ctrl-C after 440 answers stored none, wrote no report and printed 31,926 lines of
asyncio errors, and the rerun paid for all 2,000 again; a server answering 10 requests and
then 503 was scored as quality. Here the fault server answers ``K`` requests and then holds
every later one, so the moment of the kill is set by what was answered, never by a clock.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("httpx")
pytest.importorskip("tenacity")

from pytest_llmselect.cache import stored_answers  # noqa: E402
from tests.fault_server import FaultServer, after  # noqa: E402


N, K = 60, 25

SUITE = f'''
import pytest
from pytest_llmselect import GenerateRequest, exact_match

CASES = [{{"id": f"c{{i:03d}}", "prompt": f"case {{i}}", "answer": "ok"}} for i in range({N})]

def request(case):
    return GenerateRequest(case["prompt"], max_new_tokens=4)

@pytest.mark.llm_task("echo", metric="exact_match", requests=request)
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_echo(llm, llm_record, case):
    output = llm.run(request(case)).text
    llm_record(exact_match(output, case["answer"]), output=output)
'''

NOISE = ("Task was destroyed but it is pending", "Event loop is closed", "Exception ignored",
         "coroutine ignored GeneratorExit", "Traceback")


def candidates(pytester: pytest.Pytester, server: FaultServer, **settings: object) -> None:
    extra = "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items())
    (pytester.path / "served.toml").write_text(
        f'[[candidate]]\nname = "served"\nbase_url = "{server.base_url}"\nmodel = "canned"\n'
        f"max_concurrency = 4\ntimeout_s = 120\n{extra}", encoding="utf-8")


ARGS = ("-p", "no:cacheprovider", "--llm-candidates=@served.toml", "--llm-report=run.json", "--llm-run-log=")


def run_until_answered_then(pytester: pytest.Pytester, sig: int) -> tuple[FaultServer, str]:
    """Start the run against a server that answers K requests and holds the rest; once the K
    answers are in the cache (or the run ended), send ``sig``. Returns the server and the output."""
    server = FaultServer(rule=after(K, "hang"), lifetime_s=300)
    cache = pytester.path / ".llmselect" / "cache.sqlite"
    with server:
        candidates(pytester, server)
        proc = pytester.popen([sys.executable, "-m", "pytest", *ARGS], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        bound = time.monotonic() + 240  # a bound on waiting (a busy machine starts slowly), not a measured figure
        while proc.poll() is None and stored_answers(cache) < K and time.monotonic() < bound:
            time.sleep(0.05)
        proc.send_signal(sig)
        try:
            out, _ = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:  # the signal did not end the run: show how far it got
            proc.kill()
            out, _ = proc.communicate()
            pytest.fail(f"the run did not end within 300 s of signal {sig}; stored {stored_answers(cache)}, "
                        f"server answered {server.answered}:\n{out.decode('utf-8', 'replace')[-3000:]}")
    return server, out.decode("utf-8", "replace")


def rerun(pytester: pytest.Pytester, port: int) -> tuple[FaultServer, pytest.RunResult]:
    """The run again, against a healthy server at the same address (the same model to the cache)."""
    with FaultServer(lifetime_s=300, port=port) as server:
        candidates(pytester, server)
        result = pytester.runpytest_subprocess(*ARGS)
    return server, result


def test_sigkill_loses_only_the_requests_in_flight_and_the_rerun_sends_only_what_is_missing(pytester):
    pytester.makepyfile(test_echo=SUITE)
    killed, _ = run_until_answered_then(pytester, signal.SIGKILL)
    assert killed.answered == K and stored_answers(pytester.path / ".llmselect" / "cache.sqlite") == K
    server, result = rerun(pytester, killed.port)
    result.assert_outcomes(passed=N)
    assert server.received == N - killed.answered  # requests sent by the rerun = not answered before the kill
    report = json.loads((pytester.path / "run.json").read_text(encoding="utf-8"))
    assert report["complete"] is True and len(report["cases"]) == N


def test_ctrl_c_cancels_cleanly_writes_the_partial_report_and_the_rerun_sends_only_what_is_missing(pytester):
    pytester.makepyfile(test_echo=SUITE)
    interrupted, output = run_until_answered_then(pytester, signal.SIGINT)
    assert not [line for line in output.splitlines() if any(n in line for n in NOISE)], output[-3000:]
    assert "Interrupted: interrupted (Ctrl-C)" in output  # the run ends as interrupted (exit status 2)
    report = json.loads((pytester.path / "run.json").read_text(encoding="utf-8"))
    assert report["complete"] is False
    scored = [c for c in report["cases"] if c["status"] == "scored"]
    assert len(scored) == K and all(c["score"] == 1.0 for c in scored)
    assert sum(m["count"] for m in report["missing"]) == N - K
    assert all("interrupted (Ctrl-C)" in m["reason"] for m in report["missing"])
    # Only the answered cases ran after Ctrl-C, and the one in hand when it came (it fails, not run).
    summary = output.splitlines()[-1]
    assert f"{K} passed" in summary and ("failed" not in summary or "1 failed" in summary), summary
    assert stored_answers(pytester.path / ".llmselect" / "cache.sqlite") == K == interrupted.answered
    server, result = rerun(pytester, interrupted.port)
    result.assert_outcomes(passed=N)
    assert server.received == N - K


def test_an_outage_that_answers_is_not_quality(pytester):
    """The server answers 10 requests and then 503 to everything: the 10 are scored (all right),
    the rest are not run with the reason named, and the run is marked partial."""
    pytester.makepyfile(test_echo=SUITE)
    with FaultServer(rule=after(10, "status:503:0"), lifetime_s=300) as server:
        candidates(pytester, server, max_retries=1)
        result = pytester.runpytest_subprocess(*ARGS)
    report = json.loads((pytester.path / "run.json").read_text(encoding="utf-8"))
    assert report["complete"] is False
    assert [c["status"] for c in report["cases"]] == ["scored"] * 10
    (row,) = [r for t in report["tasks"] for r in t["results"]]
    assert row["quality"] == 1.0
    (missing,) = report["missing"]
    assert missing["count"] == N - 10 and "HTTP 503" in missing["reason"]
    result.stdout.fnmatch_lines([f"*PARTIAL RUN: {N - 10} planned case(s) not run*"])
