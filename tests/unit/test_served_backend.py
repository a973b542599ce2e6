"""The served-model backend against real HTTP servers on loopback that need no model: a
fault-injecting Starlette app answering a fixed completion. Retries, Retry-After, timeouts,
concurrency limits, key handling and validation."""

from __future__ import annotations

import shutil
import socket
import time

import pytest

pytest.importorskip("httpx")
pytest.importorskip("tenacity")
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from pytest_llmselect.backends.base import GenerateRequest, LoglikelihoodRequest  # noqa: E402
from pytest_llmselect.backends.openai import OpenAIBackend, RetryAfterWait, probe_server  # noqa: E402
from pytest_llmselect.endpoints import ServedSettings  # noqa: E402
from pytest_llmselect.errors import BackendError, SpecError  # noqa: E402
from tests.served_kit import FaultProxy, self_signed_certificate  # noqa: E402

KEY = "sk-test-0123456789abcdef"


@pytest.fixture(scope="module")
def running():
    """One fault server for the module (starting uvicorn per test costs more than the tests)."""
    proxy = FaultProxy()
    with proxy.serve() as server:
        yield proxy, server


@pytest.fixture
def fault(running):
    """The module's fault server, reset: no script, no delay, no key, nothing recorded."""
    proxy, server = running
    deadline = time.monotonic() + 10
    while proxy.in_flight and time.monotonic() < deadline:  # a stalled request of an earlier test
        time.sleep(0.05)
    proxy.script[:] = []
    proxy.attempts.clear()
    proxy.delay_s, proxy.require_key, proxy.max_in_flight = 0.0, None, 0
    return proxy, server


def backend_for(server, *, backoff_s: float = 0.05, **settings) -> OpenAIBackend:
    return OpenAIBackend.load(ServedSettings(server.base_url, "canned", **settings), display_name="served",
                              backoff_s=backoff_s)


def requests(n: int) -> list[GenerateRequest]:
    return [GenerateRequest(f"{i}+1=", max_new_tokens=4, stop=("\n",)) for i in range(n)]


@pytest.mark.parametrize("stream", [True, False])
def test_generate_reads_text_usage_and_latency(fault, stream):
    proxy, server = fault
    backend = backend_for(server, stream=stream)
    try:
        (res,) = backend.generate(requests(1))
    finally:
        backend.close()
    assert (res.text, res.input_tokens, res.output_tokens) == ("ok", 3, 1)
    assert res.latency_seconds is not None and res.latency_seconds > 0
    assert (res.first_token_seconds is not None) == stream
    (attempt,) = proxy.attempts
    assert attempt.body["temperature"] == 0.0 and attempt.body["max_tokens"] == 4 and attempt.body["stop"] == ["\n"]
    assert attempt.body.get("stream", False) == stream


def test_chat_messages_go_to_chat_completions(fault):
    proxy, server = fault
    req = GenerateRequest.chat([{"role": "system", "content": "add"}, {"role": "user", "content": "2+2="}],
                               max_new_tokens=3)
    backend = backend_for(server)
    try:
        (res,) = backend.generate([req])
    finally:
        backend.close()
    assert res.text == "ok"
    (attempt,) = proxy.attempts
    assert attempt.path == "/v1/chat/completions"
    assert attempt.body["messages"] == [{"role": "system", "content": "add"}, {"role": "user", "content": "2+2="}]


def test_429_with_retry_after_then_success(fault):
    proxy, server = fault
    proxy.script[:] = ["status:429:0.3"]
    backend = backend_for(server)
    try:
        (res,) = backend.generate(requests(1))
    finally:
        backend.close()
    assert res.text == "ok"
    assert [a.action for a in proxy.attempts] == ["status:429:0.3", "pass"]
    assert backend.retries == 1


def test_5xx_retried_until_max_retries_then_one_line_naming_the_url(fault):
    proxy, server = fault
    proxy.script[:] = ["status:500", "status:503"]
    ok = backend_for(server, max_retries=2)
    try:
        assert ok.generate(requests(1))[0].text == "ok"
    finally:
        ok.close()
    proxy.script[:] = ["status:500", "status:502"]
    failing = backend_for(server, max_retries=1)
    try:
        with pytest.raises(BackendError) as info:
            failing.generate(requests(1))
    finally:
        failing.close()
    message = str(info.value)
    assert server.base_url in message and "after 2 attempt(s)" in message and "HTTP 502" in message
    assert "\n" not in message


def test_timeout_is_retried(fault):
    proxy, server = fault
    proxy.script[:] = ["stall:1.5"]
    backend = backend_for(server, timeout_s=0.3)
    try:
        (res,) = backend.generate(requests(1))
    finally:
        backend.close()
    assert res.text == "ok"
    assert [a.action for a in proxy.attempts] == ["stall:1.5", "pass"]


def test_client_error_is_not_retried(fault):
    proxy, server = fault
    proxy.script[:] = ["status:400"]
    backend = backend_for(server)
    try:
        with pytest.raises(BackendError, match="answered HTTP 400"):
            backend.generate(requests(1))
    finally:
        backend.close()
    assert len(proxy.attempts) == 1


def test_at_most_max_concurrency_in_flight_and_they_overlap(fault):
    proxy, server = fault
    proxy.delay_s = 0.3
    backend = backend_for(server, max_concurrency=3)
    try:
        results = backend.generate(requests(7))
    finally:
        backend.close()
    assert [r.text for r in results] == ["ok"] * 7
    assert proxy.max_in_flight == 3


def test_key_is_sent_from_the_named_variable_and_kept_out_of_errors(fault, monkeypatch):
    monkeypatch.setenv("LLMSELECT_TEST_KEY", KEY)
    proxy, server = fault
    proxy.require_key = KEY
    backend = backend_for(server, api_key_env="LLMSELECT_TEST_KEY")
    try:
        assert backend.generate(requests(1))[0].text == "ok"
    finally:
        backend.close()
    assert proxy.attempts[0].authorization == f"Bearer {KEY}"
    assert KEY not in repr(backend.settings) and KEY not in repr(backend.info)
    # The server stops accepting the key; it echoes the key it got in its 401 body.
    proxy.require_key = "another-key"
    settings = ServedSettings(server.base_url, "canned", api_key_env="LLMSELECT_TEST_KEY")
    with pytest.raises(SpecError) as refused:
        probe_server(settings, name="served", api_key=KEY)
    assert "refused the API key from $LLMSELECT_TEST_KEY" in str(refused.value)
    proxy.require_key = KEY
    live = OpenAIBackend.load(settings, display_name="served")
    proxy.require_key = "another-key"
    try:
        with pytest.raises(BackendError) as info:
            live.generate(requests(1))
    finally:
        live.close()
    assert "401" in str(info.value) and "***" in str(info.value)
    assert KEY not in str(info.value) and KEY not in str(refused.value)


def test_cache_key_of_a_served_model_does_not_depend_on_the_api_key(fault, monkeypatch):
    from pytest_llmselect.cache import ResponseCache, model_identity

    _, server = fault
    keys = []
    for key in (KEY, "sk-another-key-42", None):
        if key is None:
            monkeypatch.delenv("LLMSELECT_TEST_KEY", raising=False)
        else:
            monkeypatch.setenv("LLMSELECT_TEST_KEY", key)
        env = "LLMSELECT_TEST_KEY" if key else None
        backend = OpenAIBackend.load(ServedSettings(server.base_url, "canned", api_key_env=env), display_name="served")
        backend.close()
        identity = model_identity(server.base_url, backend.info.extra, dtype=backend.info.dtype,
                                  device=backend.info.device)
        assert identity is not None and KEY not in repr(identity)
        keys.append(ResponseCache.model_key(identity))
    # One model at one server answers alike whoever pays: the same cache entries, and no key in them.
    assert len(set(keys)) == 1


def test_unset_key_variable_names_the_variable(monkeypatch):
    monkeypatch.delenv("LLMSELECT_NOT_SET", raising=False)
    settings = ServedSettings("http://127.0.0.1:9/v1", "m", api_key_env="LLMSELECT_NOT_SET")
    with pytest.raises(SpecError, match=r"\$LLMSELECT_NOT_SET, which is not set"):
        settings.api_key()


def test_unreachable_server_is_one_line_naming_the_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        settings = ServedSettings(f"http://127.0.0.1:{port}/v1", "m", timeout_s=2)
        with pytest.raises(SpecError) as info:
            probe_server(settings, name="far", api_key=None)
    message = str(info.value)
    assert f"cannot reach the server at http://127.0.0.1:{port}/v1" in message and "\n" not in message


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command line")
def test_https_server_certificate_is_verified_and_ssl_cert_file_honoured(tmp_path, monkeypatch):
    # One certificate store is shared by the clients of a process (building it per client cost
    # ~35 ms each); it must still refuse an unknown certificate and follow SSL_CERT_FILE.
    cert, key = self_signed_certificate(tmp_path)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with FaultProxy().serve(tls=(cert, key)) as server:
        settings = ServedSettings(server.base_url, "canned", timeout_s=5)
        with pytest.raises(SpecError, match="cannot reach the server at https://.*CERTIFICATE_VERIFY_FAILED"):
            probe_server(settings, name="tls", api_key=None)
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        assert probe_server(settings, name="tls", api_key=None)["listed"] is True
        backend = OpenAIBackend.load(settings, display_name="tls")
        try:
            assert backend.generate(requests(1))[0].text == "ok"
        finally:
            backend.close()
        monkeypatch.delenv("SSL_CERT_FILE")
        with pytest.raises(BackendError, match="CERTIFICATE_VERIFY_FAILED"):
            OpenAIBackend.load(settings, display_name="tls")


def test_loglikelihood_without_prompt_logprobs_fails_before_any_scoring_request(fault):
    proxy, server = fault  # answers completions without log-probabilities, whatever is asked
    backend = backend_for(server)
    try:
        with pytest.raises(BackendError, match="no prompt log-probabilities"):
            backend.loglikelihood([LoglikelihoodRequest("largest of 1 2:", " 2")])
        with pytest.raises(BackendError, match="no prompt log-probabilities"):
            backend.loglikelihood([LoglikelihoodRequest("largest of 1 2:", " 1")])
    finally:
        backend.close()
    # Only the capability probes went out (once, both modes), never the task's prompt.
    assert [a.body["prompt"] for a in proxy.attempts] == ["1 2", "1 2"]


def test_retry_wait_honours_retry_after_and_grows():
    import tenacity

    class Failed(Exception):
        retry_after = 2.5

    wait = RetryAfterWait(initial=0.1, maximum=10.0, jitter=0.0)

    def state(attempt: int, exc: BaseException) -> tenacity.RetryCallState:
        rs = tenacity.RetryCallState(retry_object=tenacity.Retrying(), fn=None, args=(), kwargs={})
        rs.attempt_number = attempt
        fut = tenacity.Future(attempt)
        fut.set_exception(exc)
        rs.outcome = fut
        return rs

    assert wait(state(1, Failed())) == pytest.approx(2.5)
    plain = [wait(state(n, RuntimeError())) for n in (1, 2, 3)]
    assert plain == sorted(plain) and plain[0] < plain[2]


def test_one_failed_request_costs_only_its_case_and_nothing_is_sent_twice(fault):
    """A served batch where one request is refused (HTTP 400, not retried): the other requests
    finish, are kept with their tokens and time, and no request is sent again. Before, the
    batch was cancelled and re-sent in halves: on a paid API up to twice the tokens."""
    from pytest_llmselect.engine import Measures, RequestFailed, run_requests
    from pytest_llmselect.errors import PartialBatch

    proxy, server = fault
    proxy.reject_prompt = "BAD"
    reqs = requests(7) + [GenerateRequest("BAD+1=", max_new_tokens=4, stop=("\n",))]
    backend = backend_for(server, max_concurrency=4)
    try:
        with pytest.raises(PartialBatch, match=r"answered HTTP 400.*\(1 of 8 requests failed\)") as info:
            backend.generate(reqs)
        assert [type(o).__name__ for o in info.value.outcomes].count("GenerateResult") == 7
        proxy.attempts.clear()
        measures, cached = Measures(), []
        out = run_requests(backend, reqs, batch_size=8, measures=measures,
                           on_batch=lambda batch, results, seconds: cached.extend(batch))
    finally:
        proxy.reject_prompt = None
        backend.close()
    assert sorted(a.body["prompt"] for a in proxy.attempts) == sorted(r.prompt for r in reqs)  # each once
    failed = out[reqs[-1]]
    assert isinstance(failed, RequestFailed) and "HTTP 400" in failed.error and "\n" not in failed.error
    assert all(out[r].text == "ok" for r in reqs[:7])
    assert measures.output_tokens == 7 and measures.input_tokens == 7 * 3 and measures.model_seconds > 0
    assert sorted(r.prompt for r in cached) == sorted(r.prompt for r in reqs[:7])  # the response cache gets the 7


def test_no_answer_and_a_failed_health_check_stop_sending_until_the_server_answers_again():
    """A request that gets no answer after its retries, on a server whose health check
    (``GET /models``) fails too, marks the server down: the rest of the batch fails at once
    (not retried against a dead server); the next batch first checks the server, and sends
    again when it answers. (A server whose check answers is not condemned by one unlucky
    request: tests/unit/test_served_faults.py.)"""
    from pytest_llmselect.errors import PartialBatch, ServerUnreachable
    from tests.fault_server import FaultServer

    server = FaultServer(script=["hang", "hang"], lifetime_s=60)
    with server:
        backend = OpenAIBackend.load(ServedSettings(server.base_url, "canned", timeout_s=0.3, max_retries=1,
                                                    max_concurrency=1), display_name="served", backoff_s=0.05)
        try:
            server.models_down = True
            with pytest.raises(PartialBatch) as info:
                backend.generate(requests(3))
            assert all(isinstance(o, ServerUnreachable) for o in info.value.outcomes)
            assert "no answer from the server" in str(info.value) and server.base_url in str(info.value)
            assert server.received == 2  # the first request twice; the other two never sent
            server.models_down = False
            assert [r.text for r in backend.generate(requests(2))] == ["ok", "ok"]  # answering again
        finally:
            backend.close()
    assert server.received == 4
