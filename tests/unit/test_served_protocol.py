"""Served-model specs and the OpenAI wire format: pure parsers, each fuzzed with hypothesis."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmselect.backends.base import GenerateRequest, Message
from pytest_llmselect.backends.openai_protocol import (
    ProtocolError,
    ScoredPrompt,
    chat_body,
    completion_body,
    cut_at_stop,
    parse_retry_after,
    parse_sse_line,
    prompt_token_logprobs,
    score_continuation,
    usage_tokens,
)
from pytest_llmselect.candidates import parse_candidates, parse_spec
from pytest_llmselect.endpoints import ServedSettings, check_base_url, parse_served_spec
from pytest_llmselect.errors import SpecError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


# ---- specs ------------------------------------------------------------------------------------


def test_spec_and_defaults():
    cand = parse_spec("openai:zoo-small@http://127.0.0.1:8000/v1/")
    assert (cand.kind, cand.name, cand.source) == ("openai", "openai:zoo-small@http://127.0.0.1:8000/v1/",
                                                   "http://127.0.0.1:8000/v1")
    assert cand.served == ServedSettings("http://127.0.0.1:8000/v1", "zoo-small")
    assert (cand.served.max_concurrency, cand.served.max_retries, cand.served.stream) == (8, 3, True)
    # A model id may itself contain "@" and "/": the URL starts at the first "@http".
    assert parse_spec("openai:org/m@v2@https://api.example.test/v1").served.model == "org/m@v2"


@pytest.mark.parametrize("spec, message", [
    ("openai:m", "has no base URL"),
    ("openai:@http://h/v1", "malformed served spec"),
    ("openai:m@ftp://h/v1", "must start with http"),
    ("openai:m@http:///v1", "has no host"),
    ("openai:m@http://user:secret@h/v1", "must not carry credentials"),
    ("openai:m@http://h/v1?x=1", "query or fragment"),
    ("openai:m@http://h:99999/v1", "not a valid URL"),
    ("openai: m@http://h/v1", "without surrounding spaces"),
])
def test_bad_specs_are_one_line(spec, message):
    with pytest.raises(SpecError, match=message) as info:
        parse_spec(spec)
    assert "\n" not in str(info.value)
    assert "secret" not in str(info.value)


def test_candidates_file_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("SERVED_KEY", "k")
    (tmp_path / "c.toml").write_text('''
[[candidate]]
name = "served"
base_url = "http://127.0.0.1:8000/v1"
model = "zoo-small"
api_key_env = "SERVED_KEY"
max_concurrency = 4
timeout_s = 12.5
max_retries = 0
stream = false
price = { usd_per_million_input_tokens = 0.15, usd_per_million_output_tokens = 0.6 }

[[candidate]]
spec = "openai:other@http://127.0.0.1:8001/v1"
max_concurrency = 2
''', encoding="utf-8")
    a, b = parse_candidates("@c.toml", base_dir=tmp_path)
    assert a.name == "served" and a.kind == "openai"
    assert a.served == ServedSettings("http://127.0.0.1:8000/v1", "zoo-small", api_key_env="SERVED_KEY",
                                      max_concurrency=4, timeout_s=12.5, max_retries=0, stream=False)
    assert a.price.usd_per_million_output_tokens == 0.6
    assert (b.served.model, b.served.max_concurrency, b.name) == ("other", 2, "openai:other@http://127.0.0.1:8001/v1")


@pytest.mark.parametrize("table, message", [
    ('base_url = "http://h/v1"', "needs 'model'"),
    ('model = "m"', "needs 'base_url'"),
    ('spec = "zoo:tiny"\nmax_concurrency = 2', "are for served models"),
    ('spec = "openai:m@http://h/v1"\ndtype = "float16"', "do not apply to a served model"),
    ('spec = "openai:m@http://h/v1"\nmax_concurrency = 0', "max_concurrency must be an integer >= 1"),
    ('spec = "openai:m@http://h/v1"\ntimeout_s = -1', "timeout_s must be a number of seconds > 0"),
    ('spec = "openai:m@http://h/v1"\nmax_retries = 1.5', "max_retries must be an integer >= 0"),
    ('spec = "openai:m@http://h/v1"\napi_key_env = "NOT-A-NAME"', "api_key_env must name an environment variable"),
    ('spec = "openai:m@http://h/v1"\napi_key_env = "LLMSELECT_UNSET_VAR"', "LLMSELECT_UNSET_VAR, which is not set"),
])
def test_bad_candidates_file_keys(tmp_path, monkeypatch, table, message):
    monkeypatch.delenv("LLMSELECT_UNSET_VAR", raising=False)
    (tmp_path / "c.toml").write_text(f"[[candidate]]\n{table}\n", encoding="utf-8")
    with pytest.raises(SpecError, match=message) as info:
        parse_candidates("@c.toml", base_dir=tmp_path)
    assert "candidate #1" in str(info.value) and "\n" not in str(info.value)


@given(st.text(max_size=60))
def test_spec_parser_fuzz(text):
    try:
        settings = parse_served_spec("openai:" + text)
    except SpecError as exc:
        assert "\n" not in str(exc).replace(repr(text), "") or "\n" in text
    else:
        assert settings.base_url.startswith(("http://", "https://")) and settings.model


@given(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,20}", fullmatch=True),
       st.from_regex(r"https?://[a-z0-9.-]{1,12}(:[1-9][0-9]{0,3})?(/[a-z0-9]{1,5}){0,2}", fullmatch=True))
def test_spec_round_trip(model, url):
    settings = parse_served_spec(f"openai:{model}@{url}")
    assert (settings.model, settings.base_url) == (model, url.rstrip("/"))
    assert parse_served_spec(settings.spec) == settings


@given(st.text(alphabet="abc:/@.", max_size=12), st.sampled_from(["http", "https", "ftp", ""]))
def test_credentials_never_echoed(junk, scheme):
    secret = "s3cr3t"
    for text in (f"openai:m@{scheme}://u:{secret}@h{junk}", f"openai:m@{scheme}://{secret}@{junk}"):
        try:
            parse_served_spec(text)
        except SpecError as exc:
            assert secret not in str(exc)


@given(st.text(max_size=40))
def test_base_url_fuzz(text):
    try:
        url = check_base_url(text)
    except SpecError:
        return
    assert url.startswith(("http://", "https://")) and not url.endswith("/") and "@" not in url.split("/")[2]


# ---- requests ---------------------------------------------------------------------------------


def test_request_bodies_are_greedy_with_stop_and_budget():
    req = GenerateRequest("2+2=", max_new_tokens=3, stop=("\n", ""))
    assert completion_body("m", req, stream=False) == {"model": "m", "prompt": "2+2=", "max_tokens": 3,
                                                       "temperature": 0.0, "stop": ["\n"]}
    chat = GenerateRequest.chat([Message("user", "2+2=")], max_new_tokens=3)
    body = chat_body("m", chat, stream=True)
    assert body["messages"] == [{"role": "user", "content": "2+2="}] and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True} and "stop" not in body


def test_a_sampled_request_sends_its_temperature_top_p_and_seed():
    req = GenerateRequest("2+2=", max_new_tokens=3, temperature=0.8, top_p=0.9, seed=42)
    assert completion_body("m", req, stream=False) == {"model": "m", "prompt": "2+2=", "max_tokens": 3,
                                                       "temperature": 0.8, "top_p": 0.9, "seed": 42}
    chat = GenerateRequest.chat([Message("user", "2+2=")], max_new_tokens=3, temperature=0.5, seed=1)
    body = chat_body("m", chat, stream=False)
    assert (body["temperature"], body["seed"]) == (0.5, 1) and "top_p" not in body


@pytest.mark.parametrize("kwargs, error", [
    ({"prompt": "x", "messages": [{"role": "user", "content": "y"}]}, "not both"),
    ({"messages": []}, "must not be empty"),
    ({"messages": [{"role": "robot", "content": "y"}]}, "role must be one of"),
    ({"messages": [{"role": "user"}]}, "exactly the keys"),
    ({"messages": "hello"}, "sequence of chat messages"),
    ({"prompt": "x", "stop": [1]}, "stop strings must be str"),
])
def test_bad_chat_requests(kwargs, error):
    with pytest.raises((TypeError, ValueError), match=error):
        GenerateRequest(**kwargs)


def test_chat_requests_are_hashable_values():
    a = GenerateRequest.chat([{"role": "user", "content": "hi"}])
    b = GenerateRequest(messages=(Message("user", "hi"),))
    assert a == b and hash(a) == hash(b) and a.is_chat and not GenerateRequest("hi").is_chat


# ---- responses ----------------------------------------------------------------------------------


def test_retry_after_seconds_and_dates():
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert parse_retry_after("2", now=now) == 2.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None and parse_retry_after("-1") is None


@given(st.text(max_size=40))
def test_retry_after_fuzz(text):
    value = parse_retry_after(text)
    assert value is None or value >= 0


@given(st.text(max_size=60))
def test_sse_line_fuzz(text):
    try:
        value = parse_sse_line(text)
    except ProtocolError:
        assert text.startswith("data:")
        return
    assert value is None or isinstance(value, dict)


@given(json_values)
def test_usage_and_logprob_parsers_fuzz(value):
    body = value if isinstance(value, dict) else {"usage": value, "logprobs": value, "prompt_logprobs": value}
    try:
        usage_tokens(body)
    except ProtocolError:
        pass
    try:
        scored = prompt_token_logprobs(body, 2)
    except ProtocolError:
        return
    assert scored is None or len(scored.tokens) == 2


def test_echo_logprobs_score_the_continuation():
    choice = {"logprobs": {"tokens": ["a", "b", " c", "d", "!"], "token_logprobs": [None, -1.0, -2.0, -0.5, -9.0],
                           "top_logprobs": [None, {"b": -1.0}, {"x": -0.1}, {"d": -0.5}, {"!": -9.0}],
                           "text_offset": [0, 1, 2, 4, 5]}}
    scored = prompt_token_logprobs(choice, 4)  # the fifth token was generated, not prompt
    assert scored.offsets == (0, 1, 2, 4)
    assert score_continuation(scored, len("ab"), len("ab cd")) == (-2.5, 2, False)
    assert score_continuation(scored, len("ab c"), len("ab cd")) == (-0.5, 1, True)
    # A token straddling the boundary ("ab |c" cut inside " c") counts as continuation.
    assert score_continuation(scored, 3, len("ab cd")) == (-2.5, 2, False)
    # Without offsets, token ends are counted back from the end of the prompt.
    bare = ScoredPrompt(scored.tokens, scored.logprobs, scored.greedy)
    assert score_continuation(bare, len("ab"), len("ab cd")) == (-2.5, 2, False)


def test_prompt_logprobs_shape_of_vllm():
    choice = {"prompt_logprobs": [None, {"7": {"logprob": -1.5, "rank": 1, "decoded_token": "b"}},
                                  {"9": {"logprob": -0.25, "rank": 3, "decoded_token": "c"}}]}
    scored = prompt_token_logprobs(choice, 3)
    assert scored == ScoredPrompt(("", "b", "c"), (None, -1.5, -0.25), (None, True, False))
    # The first token's text is unknown (""): ends are counted back from the prompt "abc".
    assert score_continuation(scored, 2, 3) == (-0.25, 1, False)
    assert score_continuation(scored, 1, 3) == (-1.75, 2, False)


def test_missing_prompt_logprobs_is_none_not_an_error():
    assert prompt_token_logprobs({"text": "x", "logprobs": None}, 3) is None
    # logprobs of the generated token only: the prompt was not echoed
    assert prompt_token_logprobs({"logprobs": {"tokens": ["x"], "token_logprobs": [-1.0]}}, 3) is None


@given(st.text(max_size=20), st.lists(st.text(max_size=3), max_size=3))
def test_cut_at_stop(text, stops):
    out = cut_at_stop(text, tuple(stops))
    assert text.startswith(out)
    assert not any(s and s in out for s in stops)
