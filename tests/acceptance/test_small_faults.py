"""The trial's smaller faults, each reproduced end to end first: a case passing on a rerun
counted as errored, ``--ff`` loading each candidate twice, ``--llm-level=0.5`` accepted and then
failing a gate item nobody asked for, a chat template that renders nothing scored without a
word, a stored output as large as the answer. Served candidates on our fault server stand in
for models (no weights needed), except for the chat template, which is a tiny real model's."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("httpx")
pytest.importorskip("tenacity")

from tests.fault_server import FaultServer  # noqa: E402


SUITE = '''
import os, pathlib
import pytest
from pytest_llmselect import GenerateRequest, exact_match

CASES = [{"id": f"c{i}", "prompt": f"case {i}", "answer": "ok"} for i in range(4)]

def request(case):
    return GenerateRequest(case["prompt"], max_new_tokens=4)

@pytest.mark.llm_task("echo", metric="exact_match", requests=request)
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_echo(llm, llm_record, case):
    output = llm.run(request(case)).text
    if case["id"] == "c1" and os.environ.get("FLAKY"):
        marker = pathlib.Path(f"tried-{llm.name}")
        if not marker.exists():  # the first attempt fails, the rerun passes
            marker.write_text("1")
            raise RuntimeError("flaky infrastructure")
    if case["id"] == "c1" and os.environ.get("FAIL_C1"):
        raise RuntimeError("fails this time")
    llm_record(exact_match(output, case["answer"]), output=output)
'''

# A rerun plugin as pytest-rerunfailures works: the whole protocol again, once, for a failed item.
RERUN = '''
from _pytest.runner import runtestprotocol

def pytest_runtest_protocol(item, nextitem):
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    reports = runtestprotocol(item, nextitem=nextitem, log=False)
    if any(r.failed for r in reports):
        reports = runtestprotocol(item, nextitem=nextitem, log=False)
    for report in reports:
        item.ihook.pytest_runtest_logreport(report=report)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True
'''


def two_candidates(pytester: pytest.Pytester, server: FaultServer) -> None:
    (pytester.path / "served.toml").write_text("".join(
        f'[[candidate]]\nname = "{name}"\nbase_url = "{server.base_url}"\nmodel = "canned"\n'
        for name in ("a", "b")), encoding="utf-8")


def test_a_case_that_passes_on_its_rerun_is_scored_not_errored(pytester, monkeypatch):
    pytester.makeconftest(RERUN)
    pytester.makepyfile(test_echo=SUITE)
    monkeypatch.setenv("FLAKY", "1")
    with FaultServer() as server:
        two_candidates(pytester, server)
        result = pytester.runpytest_subprocess("--llm-candidates=@served.toml", "--llm-report=run.json",
                                               "--llm-run-log=log.jsonl", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=8)
    report = json.loads((pytester.path / "run.json").read_text(encoding="utf-8"))
    assert sorted(c["status"] for c in report["cases"]) == ["scored"] * 8 and report["complete"] is True
    from pytest_llmselect.runlog import report_inputs

    inputs, _ = report_inputs(pytester.path / "log.jsonl")  # a report rebuilt from the log agrees
    assert sorted(c["status"] for c in inputs["cases"]) == ["scored"] * 8


def test_failed_first_keeps_each_candidate_loaded_once(pytester, monkeypatch):
    """--ff reorders the items after the plugin grouped them by candidate: each candidate was
    loaded twice. A load asks the server for its model card: count those."""
    pytester.makepyfile(test_echo=SUITE)
    with FaultServer() as server:
        two_candidates(pytester, server)
        monkeypatch.setenv("FAIL_C1", "1")
        pytester.runpytest_subprocess("--llm-candidates=@served.toml", "--llm-run-log=", "--llm-cache=off")
        monkeypatch.delenv("FAIL_C1")
        plain_cards = server.cards
        failed_first = pytester.runpytest_subprocess("--llm-candidates=@served.toml", "--llm-run-log=", "--ff",
                                                     "--llm-cache=off")
        ff_cards = server.cards - plain_cards
    failed_first.assert_outcomes(passed=8)
    assert ff_cards == plain_cards


def test_a_confidence_level_the_gate_refuses_is_refused_before_anything_runs(pytester):
    pytester.makepyfile(test_echo=SUITE)
    with FaultServer() as server:
        two_candidates(pytester, server)
        result = pytester.runpytest_subprocess("--llm-candidates=@served.toml", "--llm-level=0.5", "--llm-run-log=")
    assert result.ret == pytest.ExitCode.USAGE_ERROR and server.received == 0
    assert any("--llm-level" in line and "0.5" in line for line in result.errlines)


def test_a_huge_answer_is_stored_capped_with_its_full_length(pytester):
    """Found by a trial: a 5 MB answer to max_tokens=5 was stored whole in every file."""
    pytester.makepyfile(test_echo=SUITE.replace("max_new_tokens=4", "max_new_tokens=5000"))
    with FaultServer(script=["huge:300000:4000"] + ["ok"] * 3) as server:
        (pytester.path / "served.toml").write_text(
            f'[[candidate]]\nname = "a"\nbase_url = "{server.base_url}"\nmodel = "canned"\nmax_concurrency = 1\n',
            encoding="utf-8")
        pytester.runpytest_subprocess("--llm-candidates=@served.toml", "--llm-report=run.json",
                                      "--llm-run-log=log.jsonl")
    for name in ("run.json", "log.jsonl"):
        assert (pytester.path / name).stat().st_size < 100_000, name
    report = json.loads((pytester.path / "run.json").read_text(encoding="utf-8"))
    (big,) = [c for c in report["cases"] if c.get("output_chars")]
    assert big["output_chars"] == 300_000 and len(big["output"]) < 300_000


def test_a_key_echoed_by_a_failing_server_is_in_no_output_and_no_file(pytester, monkeypatch):
    """The server repeats the Authorization header in its error messages (503s, then a 400):
    the key is in neither stdout, stderr nor any file the run wrote (reports, run log, cache)."""
    key = "sk-echoed-0123456789abcdef"
    monkeypatch.setenv("SERVED_KEY", key)
    pytester.makepyfile(test_echo=SUITE)
    with FaultServer(script=["status:503:0", "status:503:0", "status:400"]) as server:
        (pytester.path / "served.toml").write_text(
            f'[[candidate]]\nname = "a"\nbase_url = "{server.base_url}"\nmodel = "canned"\n'
            'api_key_env = "SERVED_KEY"\nmax_concurrency = 1\nmax_retries = 1\n', encoding="utf-8")
        result = pytester.runpytest_subprocess("--llm-candidates=@served.toml", "--llm-report=run.json",
                                               "--llm-report=run.md", "--llm-run-log=log.jsonl")
    assert server.received >= 4 and "injected" in result.stdout.str()  # the echoing errors were shown
    assert key not in result.stdout.str() and key not in result.stderr.str()
    written = [p for p in pytester.path.rglob("*") if p.is_file()]
    assert any(p.name == "cache.sqlite" for p in written) and len(written) > 4
    assert not [p for p in written if key.encode() in p.read_bytes()]
