"""One redaction function for every message that can carry a key, a header or a URL, and the
key checked when it is read. Hypothesis draws keys and URLs; the property is that no spelling
of the key survives."""

from __future__ import annotations

import json
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_llmselect.endpoints import ServedSettings, check_base_url, served_from_table
from pytest_llmselect.errors import SpecError
from pytest_llmselect.redact import check_key, redact

# Keys as they come: printable ASCII (a real key), and anything at all (a badly read one).
KEYS = st.one_of(st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=4, max_size=60),
                 st.text(min_size=1, max_size=40))
NAMES = st.text(st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=12)


def spellings(key: str) -> list[str]:
    return [key, repr(key)[1:-1], repr(key.encode("utf-8", "surrogatepass"))[2:-1], json.dumps(key)[1:-1],
            quote(key, safe=""), quote_plus(key, safe="")]


@settings(max_examples=300, deadline=None)
@given(key=KEYS, before=st.text(max_size=30), after=st.text(max_size=30))
def test_no_spelling_of_a_key_survives(key, before, after):
    for shown in spellings(key):
        out = redact(f"{before}Illegal header value b'Bearer {shown}'{after}", [key])
        assert key not in out and (len(shown) < 1 or shown not in out)


@settings(max_examples=300, deadline=None)
@given(key=st.text(st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters="&#'\"<>"),
                   min_size=1, max_size=40), param=NAMES, other=NAMES)
def test_a_key_in_a_url_query_or_credentials_is_gone_without_knowing_it(key, param, other):
    """Not given the key, ``redact`` still removes a URL's query values and credentials."""
    value = "sk-" + quote(key, safe="")
    for url, left in ((f"http://host:8000/v1?{param}={value}", f"http://host:8000/v1?{param}=***"),
                      (f"https://host/v1?{other}=1&{param}={value}", f"https://host/v1?{other}=***&{param}=***"),
                      (f"http://user:{value}@host/v1", "http://***@host/v1"),
                      (f"http://{value}@host/v1", "http://***@host/v1")):
        out = redact(f"base_url {url!r} must not have a query")
        assert out == f"base_url {left!r} must not have a query" and value not in out


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200))
def test_text_without_secrets_urls_or_bearer_is_unchanged(text):
    if "://" in text or "?" in text or "&" in text or "bearer" in text.lower():
        return
    assert redact(text, []) == text


def test_marker_cannot_rebuild_the_key():
    assert "a*" not in redact("aa*a*", ["a*"])
    assert redact("x***y", ["***"]) == "x###y"


@pytest.mark.parametrize("value, what", [
    ("sk-abc\n", "whitespace"), (" sk-abc", "whitespace"), ("sk-a\u00e9c", "non-ASCII"),
    ("sk-a\x00b", "control"), ("sk a", "whitespace"),
])
def test_a_bad_key_is_one_line_naming_the_variable_never_the_value(value, what, monkeypatch):
    with pytest.raises(SpecError) as info:
        check_key("MY_KEY", value)
    message = str(info.value)
    assert "$MY_KEY" in message and what in message and "\n" not in message
    assert value.strip() not in message
    monkeypatch.setenv("MY_KEY", value) if "\x00" not in value else None
    if "\x00" not in value:
        with pytest.raises(SpecError) as read:
            ServedSettings("http://127.0.0.1:9/v1", "m", api_key_env="MY_KEY").api_key()
        assert "$MY_KEY" in str(read.value) and value.strip() not in str(read.value)


def test_a_key_in_base_url_query_is_not_echoed_in_the_refusal():
    key = "sk-live-0123456789abcdef"
    with pytest.raises(SpecError) as info:
        check_base_url(f"https://api.example.test/v1?api_key={key}")
    assert "query" in str(info.value) and key not in str(info.value)


def test_a_candidates_table_with_spec_and_a_different_base_url_is_an_error():
    with pytest.raises(SpecError, match="give it once"):
        served_from_table({"spec": "openai:m@http://127.0.0.1:1/v1", "base_url": "http://127.0.0.1:2/v1"},
                          "served.toml [candidate 1]")
    same = served_from_table({"spec": "openai:m@http://127.0.0.1:1/v1", "base_url": "http://127.0.0.1:1/v1/"},
                             "served.toml [candidate 1]")
    assert same.base_url == "http://127.0.0.1:1/v1"
