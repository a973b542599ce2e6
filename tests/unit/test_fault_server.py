"""The fault server the served-model tests rely on does what it says: each action, its bounds,
and that it stops by itself. Plain httpx against it, no plugin code."""

from __future__ import annotations

import json

import pytest

httpx = pytest.importorskip("httpx")

from tests.fault_server import FaultServer, after, at_random  # noqa: E402


def post(client, path="/completions", **body):
    return client.post(path, json={"prompt": "a b c", "max_tokens": 5, **body})


def test_each_action_answers_as_documented():
    script = ["ok", "status:429:7", "drop", "badjson", "nousage", "null", "huge:1000:9", "status:413"]
    with FaultServer(script=list(script)) as server, httpx.Client(base_url=server.base_url, timeout=5) as client:
        ok = post(client)
        assert ok.status_code == 200 and ok.json()["choices"][0]["text"] == "ok"
        assert ok.json()["usage"] == {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
        limited = post(client)
        assert limited.status_code == 429 and limited.headers["retry-after"] == "7"
        with pytest.raises(httpx.RemoteProtocolError):
            post(client)
        assert post(client).content == b"{this is not json"
        assert "usage" not in post(client).json()
        assert post(client).json()["choices"][0]["text"] is None
        huge = post(client).json()
        assert len(huge["choices"][0]["text"]) == 1000 and huge["usage"]["completion_tokens"] == 9
        assert post(client).status_code == 413
    assert server.actions == script
    assert server.received == len(script) and server.answered == 4  # ok, nousage, null, huge


def test_streams_chunked_and_cuts_a_stream_after_its_first_chunk():
    with FaultServer(script=["ok", "midstream"]) as server, httpx.Client(base_url=server.base_url, timeout=5) as client:
        with client.stream("POST", "/chat/completions", json={"messages": [{"role": "user", "content": "hi"}],
                                                               "stream": True}) as response:
            lines = [line for line in response.iter_lines() if line.startswith("data:")]
        events = [json.loads(line[5:]) for line in lines[:-1]]
        assert lines[-1] == "data: [DONE]" and events[0]["choices"][0]["delta"]["content"] == "ok"
        assert events[-1]["usage"]["completion_tokens"] == 1
        with pytest.raises(httpx.RemoteProtocolError):
            with client.stream("POST", "/completions", json={"prompt": "x", "stream": True}) as response:
                list(response.iter_lines())
    assert server.answered == 1


def test_model_card_is_vllm_shaped_and_can_be_down():
    with FaultServer() as server, httpx.Client(base_url=server.base_url, timeout=5) as client:
        card = client.get("/models").json()["data"][0]
        assert card["id"] == "canned" and card["owned_by"] == "vllm" and isinstance(card["created"], int)
        assert card["permission"][0]["id"] != client.get("/models").json()["data"][0]["permission"][0]["id"]
        server.models_down = True
        assert client.get("/models").status_code == 503


def test_rules_answer_n_then_fail_and_at_random_is_seeded():
    with FaultServer(rule=after(2, "status:503")) as server, httpx.Client(base_url=server.base_url) as client:
        assert [post(client).status_code for _ in range(4)] == [200, 200, 503, 503]
    first = at_random(0.3, "drop", seed=5)
    second = at_random(0.3, "drop", seed=5)
    drawn = [first(i, {}) for i in range(200)]
    assert drawn == [second(i, {}) for i in range(200)] and 30 < drawn.count("drop") < 90


def test_bounded_in_requests_and_stops_by_itself():
    with FaultServer(max_requests=3) as server, httpx.Client(base_url=server.base_url, timeout=5) as client:
        assert [post(client).status_code for _ in range(3)] == [200, 200, 200]
        with pytest.raises(httpx.TransportError):
            post(client)
        server._thread.join(timeout=30)
        assert server.stopped_by == "max_requests" and not server._thread.is_alive()


def test_a_hang_ends_when_the_server_stops_at_its_lifetime():
    server = FaultServer(script=["hang"], lifetime_s=0.5)
    with server, httpx.Client(base_url=server.base_url, timeout=60) as client:
        with pytest.raises(httpx.TransportError):
            post(client)  # held until the lifetime ends, then the connection is closed
        server._thread.join(timeout=30)
    assert server.stopped_by == "lifetime" and server.answered == 0


def test_on_answer_counts_full_answers_and_in_flight_is_tracked():
    seen: list[int] = []
    with FaultServer(on_answer=seen.append, script=["status:500", "ok", "ok"]) as server, \
            httpx.Client(base_url=server.base_url) as client:
        for _ in range(3):
            post(client)
    assert seen == [1, 2] and server.max_in_flight == 1 and server.in_flight == 0
