"""Settings of a served candidate (``openai:MODEL@BASE_URL``): parsed and validated before anything runs.

Pure: no HTTP here (``backends/openai.py`` talks to the server). The API key itself is
never held here, only the *name* of the environment variable that holds it, so a
candidate can be printed, stored or hashed without leaking the key.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlsplit

from pytest_llmselect.errors import SpecError
from pytest_llmselect.redact import check_key, redact

PREFIX = "openai:"
#: Keys of a candidates-file table that configure a served candidate.
SERVED_KEYS = frozenset({"base_url", "model", "api_key_env", "max_concurrency", "timeout_s", "max_retries", "stream"})
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# The model name runs up to the first "@http://" or "@https://": model ids may contain "@" elsewhere.
_SPEC = re.compile(r"^openai:(?P<model>.*?)(?:@(?P<url>https?://.*))?$", re.DOTALL)
_OTHER_SCHEME = re.compile(r"@[A-Za-z][A-Za-z0-9+.-]*://")


def redact_url(text: str) -> str:
    """``text`` with the credentials and query values of any URL in it replaced (``redact``), so an
    error message that quotes what the user wrote never repeats a key."""
    return redact(text)


@dataclass(frozen=True)
class ServedSettings:
    """How to reach one model behind an OpenAI-compatible HTTP API.

    ``base_url``: the API root as OpenAI's clients take it (``http://host:8000/v1``), no
    trailing slash; requests go to ``base_url + "/completions"`` and ``"/chat/completions"``.
    ``api_key_env``: name of the environment variable holding the key (None: no key sent).
    ``max_concurrency``: requests in flight at once (>= 1). ``timeout_s``: seconds one
    attempt may take (> 0). ``max_retries``: further attempts after a 429, 5xx, timeout or
    dropped connection (>= 0). ``stream``: stream responses, which makes time to first
    token a real per-request figure.
    """

    base_url: str
    model: str
    api_key_env: str | None = None
    max_concurrency: int = 8
    timeout_s: float = 60.0
    max_retries: int = 3
    stream: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", check_base_url(self.base_url))
        if not isinstance(self.model, str) or not self.model.strip() or self.model != self.model.strip():
            raise SpecError(f"model must be a non-empty name without surrounding spaces, got {self.model!r}")
        if self.api_key_env is not None and (not isinstance(self.api_key_env, str)
                                             or not _ENV_NAME.match(self.api_key_env)):
            raise SpecError(f"api_key_env must name an environment variable (letters, digits, _), "
                            f"got {self.api_key_env!r}")
        for key, low in (("max_concurrency", 1), ("max_retries", 0)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise SpecError(f"{key} must be an integer >= {low}, got {value!r}")
        t = self.timeout_s
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t <= 0:
            raise SpecError(f"timeout_s must be a number of seconds > 0, got {t!r}")
        object.__setattr__(self, "timeout_s", float(t))
        if not isinstance(self.stream, bool):
            raise SpecError(f"stream must be true or false, got {self.stream!r}")

    @property
    def spec(self) -> str:
        return f"{PREFIX}{self.model}@{self.base_url}"

    def api_key(self) -> str | None:
        """The key from the named environment variable (None without one); a named but unset or
        empty variable, or a value no HTTP header can carry as it is (``redact.check_key``:
        surrounding whitespace, control or non-ASCII characters), is a SpecError naming the
        variable, never a value."""
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env, "")
        if not key:
            raise SpecError(f"api_key_env names ${self.api_key_env}, which is not set (or empty) "
                            f"for the server at {self.base_url}")
        try:
            return check_key(self.api_key_env, key)
        except SpecError as exc:
            raise SpecError(f"{exc} (for the server at {self.base_url})") from None


def check_base_url(url: Any) -> str:
    """``url`` without trailing slashes if it is an http(s) URL with a host and no credentials,
    query or fragment; otherwise a SpecError saying which part is wrong."""
    if not isinstance(url, str):
        raise SpecError(f"base_url must be a string such as 'http://127.0.0.1:8000/v1', got {url!r}")
    text = url.strip().rstrip("/")
    shown = redact_url(repr(url))
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text):
        raise SpecError(f"base_url {shown} contains whitespace or control characters")
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError on a non-numeric or out-of-range port
    except ValueError as exc:
        raise SpecError(f"base_url {shown} is not a valid URL ({redact_url(str(exc))})") from None
    if parts.scheme not in ("http", "https"):
        raise SpecError(f"base_url {shown} must start with http:// or https://")
    if not parts.hostname:
        raise SpecError(f"base_url {shown} has no host")
    if parts.username is not None or parts.password is not None:
        # A key in the URL would end up in every report that names the candidate.
        raise SpecError("base_url must not carry credentials; put the key in an environment variable "
                        "and name it with api_key_env")
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise SpecError(f"base_url {shown} must not have a query or fragment")
    del port
    return text


def parse_served_spec(text: str) -> ServedSettings:
    """``openai:MODEL@BASE_URL`` -> settings with defaults; a SpecError names what is wrong."""
    match = _SPEC.match(text)
    shown = redact_url(repr(text))
    if match is None or not match.group("model"):
        raise SpecError(f"malformed served spec {shown}: expected openai:MODEL@BASE_URL, "
                        "e.g. openai:my-model@http://127.0.0.1:8000/v1")
    if match.group("url") is None:
        if _OTHER_SCHEME.search(match.group("model")):
            raise SpecError(f"served spec {shown}: the base URL must start with http:// or https://")
        raise SpecError(f"served spec {shown} has no base URL: expected openai:MODEL@BASE_URL "
                        "(or set base_url in a candidates file)")
    try:
        return ServedSettings(base_url=match.group("url"), model=match.group("model"))
    except SpecError as exc:
        raise SpecError(f"served spec {shown}: {exc}") from None


def served_from_table(table: Mapping[str, Any], where: str) -> ServedSettings:
    """Settings of a candidates-file table: ``spec = "openai:MODEL@URL"`` and/or the keys
    ``base_url``, ``model`` (which complete the spec; one that contradicts it is an error), ``api_key_env``,
    ``max_concurrency``, ``timeout_s``, ``max_retries``, ``stream``. Checks that a named
    key variable is set."""
    spec = table.get("spec")
    base: dict[str, Any] = {}
    if isinstance(spec, str) and spec.startswith(PREFIX):
        match = _SPEC.match(spec)
        if match is None or not match.group("model") and "model" not in table:
            raise SpecError(f"{where}: malformed served spec {redact_url(repr(spec))}: expected openai:MODEL@BASE_URL")
        if match.group("model"):
            base["model"] = match.group("model")
        if match.group("url") is not None:
            base["base_url"] = match.group("url")
    for key in ("model", "base_url"):
        # Both given and different: which one the user meant cannot be guessed.
        if key in base and key in table and table[key] != base[key] and not (
                key == "base_url" and isinstance(table[key], str) and table[key].rstrip("/") == base[key].rstrip("/")):
            raise SpecError(f"{where}: spec says {key} {redact_url(repr(base[key]))} but {key} = "
                            f"{redact_url(repr(table[key]))}; give it once")
    base.update({k: table[k] for k in SERVED_KEYS if k in table})
    for required in ("base_url", "model"):
        if required not in base:
            raise SpecError(f"{where}: a served candidate needs {required!r} (or spec = \"openai:MODEL@BASE_URL\")")
    try:
        settings = ServedSettings(**base)
        settings.api_key()  # a named key variable must be set before anything runs
    except SpecError as exc:
        raise SpecError(f"{where}: {exc}") from None
    return settings

