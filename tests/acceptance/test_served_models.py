"""Served candidates end to end, against the real ``transformers serve`` on loopback.

One server process for the module (``zoo:small-chat``: ``zoo:small``'s weights with a chat
template), started on a free port, waited on until ``/health`` answers, and stopped in the
fixture's ``finally`` whatever the tests do. A fault-injecting proxy in front of it checks
the key, counts what is in flight and injects 429 / 500 / stalls.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("httpx")
pytest.importorskip("tenacity")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from transformers.utils.import_utils import is_serve_available  # noqa: E402

from pytest_llmselect.backends.base import GenerateRequest, LoglikelihoodRequest  # noqa: E402
from pytest_llmselect.backends.hf import HFBackend  # noqa: E402
from pytest_llmselect.backends.openai import OpenAIBackend  # noqa: E402
from pytest_llmselect.endpoints import ServedSettings  # noqa: E402
from pytest_llmselect.errors import BackendError  # noqa: E402
from suitekit import ADDITION_SUITE, LARGEST_SUITE, head_jsonl, read_json  # noqa: E402
from tests.served_kit import FaultProxy, LogprobServer, transformers_serve  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not is_serve_available(), reason="needs transformers[serving] (pip install '.[serve]')"),
]

KEY = "sk-llmselect-test-5f0c1e2d9a8b7c6d"
PROMPTS = ["21+5=", "59+33=", "60+72=", "7+8=", "13+90=", "44+44="]
CHATS = [
    [{"role": "user", "content": "12+34="}],
    [{"role": "system", "content": "add"}, {"role": "user", "content": "3+4="},
     {"role": "assistant", "content": "7"}, {"role": "user", "content": "5+5="}],
]


@pytest.fixture(scope="module")
def model_dir() -> str:
    from pytest_llmselect.zoo import zoo_path

    return str(zoo_path("small-chat"))


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with transformers_serve(model_dir, log=log) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def local(model_dir):
    backend = HFBackend.load(model_dir, device="cpu", dtype="float32")
    yield backend
    backend.close()


def gen_requests() -> list[GenerateRequest]:
    return [GenerateRequest(p, max_new_tokens=5, stop=("\n",)) for p in PROMPTS] + [
        GenerateRequest.chat(m, max_new_tokens=5, stop=("\n",)) for m in CHATS]


def load(base_url: str, model: str, **settings) -> OpenAIBackend:
    return OpenAIBackend.load(ServedSettings(base_url, model, **settings), display_name="served", backoff_s=0.05)


def test_served_greedy_outputs_and_tokens_equal_local(server, model_dir, local):
    reqs = gen_requests()
    backend = load(server, model_dir, max_concurrency=4)
    try:
        served = backend.generate(reqs)
    finally:
        backend.close()
    expected = local.generate(reqs)
    assert [r.text for r in served] == [r.text for r in expected]
    assert any(r.text for r in served)  # not trivially equal
    # Usage from the server counts what the local backend counts: the same prompt tokens, and
    # new tokens up to and including the one that ended the answer.
    assert [(r.input_tokens, r.output_tokens) for r in served] == [(r.input_tokens, r.output_tokens) for r in expected]
    assert all(r.first_token_seconds is not None and 0 < r.first_token_seconds <= r.latency_seconds for r in served), [(r.text, r.first_token_seconds, r.latency_seconds) for r in served]
    # A chat turn reaches the model as the raw prompt under zoo:small-chat's template.
    assert served[len(PROMPTS)].text == local.generate([GenerateRequest("12+34=", 5, ("\n",))])[0].text


def test_concurrency_and_retries_through_a_fault_proxy(server, model_dir, local):
    reqs = gen_requests()[:4]
    proxy = FaultProxy(upstream=server, delay_s=0.2, require_key=KEY)
    with proxy.serve() as front, pytest.MonkeyPatch.context() as mp:
        mp.setenv("LLMSELECT_SERVED_KEY", KEY)
        concurrent = load(front.base_url, model_dir, max_concurrency=3, api_key_env="LLMSELECT_SERVED_KEY")
        try:
            plain = concurrent.generate(reqs)
        finally:
            concurrent.close()
        assert proxy.max_in_flight == 3  # requests really overlapped, and never more than allowed
        # 429 (Retry-After honoured), 500 and a stall past the timeout: each retried to success.
        proxy.script[:] = ["status:429:0.2", "status:500", "stall:3"]
        backend = load(front.base_url, model_dir, timeout_s=1.5, api_key_env="LLMSELECT_SERVED_KEY")
        try:
            retried = backend.generate(reqs[:1])
        finally:
            backend.close()
    assert [r.text for r in plain] == [r.text for r in local.generate(reqs)]
    assert retried[0].text == plain[0].text
    assert [a.action for a in proxy.attempts[-4:]] == ["status:429:0.2", "status:500", "stall:3", "pass"]
    assert backend.retries == 3
    assert {a.authorization for a in proxy.attempts} == {f"Bearer {KEY}"}


def test_no_prompt_logprobs_is_one_error_before_any_scoring_request(server, model_dir):
    proxy = FaultProxy(upstream=server)
    with proxy.serve() as front:
        backend = load(front.base_url, model_dir)
        try:
            with pytest.raises(BackendError) as info:
                backend.loglikelihood([LoglikelihoodRequest("largest of 1 9:", " 9")])
        finally:
            backend.close()
    assert "no prompt log-probabilities" in str(info.value) and front.base_url in str(info.value)
    assert all(a.body["prompt"] == "1 2" for a in proxy.attempts)  # the probes only, never the case


@pytest.mark.parametrize("mode", ["echo", "prompt_logprobs"])
def test_loglikelihood_over_http_equals_local(mode, model_dir, local):
    from suitekit import DATA
    import json

    cases = [json.loads(line) for line in (DATA / "largest.jsonl").read_text().splitlines()[:3]]
    reqs = [LoglikelihoodRequest(c["context"], ch) for c in cases for ch in c["choices"]]
    with LogprobServer(model_dir, mode=mode).serve() as front:
        backend = load(front.base_url, "scorer")
        try:
            assert backend.logprob_mode() == mode
            served = backend.loglikelihood(reqs)
        finally:
            backend.close()
    expected = local.loglikelihood(reqs)
    assert [r.logprob for r in served] == pytest.approx([r.logprob for r in expected], abs=1e-4)
    assert [(r.num_tokens, r.num_chars, r.is_greedy) for r in served] == \
        [(r.num_tokens, r.num_chars, r.is_greedy) for r in expected]


def test_plugin_run_with_a_served_candidate_never_writes_the_key(server, model_dir, pytester, monkeypatch):
    data = pytester.mkdir("data")
    (data / "addition.jsonl").write_text(head_jsonl("addition.jsonl", 4), encoding="utf-8")
    (data / "largest.jsonl").write_text(head_jsonl("largest.jsonl", 2), encoding="utf-8")
    pytester.makepyfile(test_addition=ADDITION_SUITE.replace("{extra}", ""), test_largest=LARGEST_SUITE)
    # One case's request is refused with a 400 whose message repeats the Authorization header:
    # the error line of that case goes into every output, and must not carry the key.
    proxy = FaultProxy(upstream=server, require_key=KEY, script=["status:503:0"], reject_prompt="59+33=")
    with proxy.serve() as front:
        (pytester.path / "candidates.toml").write_text(f'''
[[candidate]]
name = "served"
base_url = "{front.base_url}"
model = "{model_dir}"
api_key_env = "LLMSELECT_SERVED_KEY"
max_concurrency = 2
price = {{ usd_per_million_input_tokens = 1000.0, usd_per_million_output_tokens = 4000.0 }}
''', encoding="utf-8")
        monkeypatch.setenv("LLMSELECT_SERVED_KEY", KEY)
        result = pytester.runpytest_subprocess(
            "--llm-candidates=@candidates.toml", "--llm-report=run.json", "--llm-report=run.md",
            "--llm-report=run.html", "--llm-save=served", "--llm-run-log=log/run-log.jsonl",
            "--junitxml=junit.xml", "-rf")
    # One cause, one line: the multiple-choice task's first case fails naming the capability, its
    # other case is a skip pointing at it (still counted as errored in the report).
    result.assert_outcomes(passed=3, failed=2, skipped=1)
    # The multiple-choice task fails with one line naming the capability, before any request.
    result.stdout.fnmatch_lines(["CapabilityError: model 'served' at http://127.0.0.1:*/v1: cannot score "
                                 "log-likelihood*no prompt log-probabilities*"])
    assert "backends/openai" not in result.stdout.str()  # one line per case, no traceback through the plugin
    assert not [a for a in proxy.attempts if "largest of" in str(a.body.get("prompt"))]
    report = read_json(pytester.path / "run.json")
    (row,) = [r for t in report["tasks"] if t["name"] == "addition" for r in t["results"]]
    m = row["measures"]
    answered = [p for p in _prompts(data) if p != "59+33="]  # the refused request has no usage to count
    assert m["requests"] == 3 and m["input_tokens"] == sum(len(p) for p in answered) and m["output_tokens"] > 0
    assert m["ttft_p50"] is not None and m["latency_p50"] is not None
    expected_cost = (m["input_tokens"] * 1000.0 + m["output_tokens"] * 4000.0) / 1e6 * 1000 / 4
    assert row["cost"] == pytest.approx(expected_cost, rel=1e-6)
    # The key went to the server, and nowhere else: every file the run wrote, and its output.
    assert {a.authorization for a in proxy.attempts} == {f"Bearer {KEY}"}
    written = [p for p in pytester.path.rglob("*") if p.is_file()]
    names = {str(p.relative_to(pytester.path)) for p in written}
    # Each kind of output is there to be searched: reports, run log, JUnit XML, the stored run
    # and the response cache (the model identity its keys hash is stored beside them).
    assert {"run.json", "run.md", "run.html", "log/run-log.jsonl", "junit.xml", ".llmselect/cache.sqlite"} <= names
    assert any(n.startswith(".llmselect/runs/") for n in names)
    leaked = [str(p) for p in written if KEY.encode() in p.read_bytes()]
    assert leaked == []
    output = result.stdout.str() + result.stderr.str()
    assert KEY not in output
    # The refused case's error (which carried the key from the server) reached the outputs, redacted.
    refused = "rejected request from Bearer ***"
    assert refused in output
    assert refused in (pytester.path / "log/run-log.jsonl").read_text(encoding="utf-8")
    assert refused in (pytester.path / "junit.xml").read_text(encoding="utf-8")


def _prompts(data: Path) -> list[str]:
    import json

    return [json.loads(line)["prompt"] for line in (data / "addition.jsonl").read_text().splitlines() if line]


def test_unreachable_server_stops_the_run_with_one_line(pytester):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        pytester.makepyfile(test_x="def test_x(llm):\n    pass\n")
        result = pytester.runpytest_inprocess(f"--llm-candidates=openai:m@{url}")
    assert result.ret != 0
    lines = [ln for ln in result.stderr.lines if url in ln]
    assert len(lines) == 1 and "cannot reach the server at" in lines[0]
