"""Secrets out of every message: one redaction function, and the API key checked when it is read.

``redact(text, secrets)`` is what any message that can carry a header, a URL or a key goes
through before it is shown or written. It removes

* each given secret, in every form it can appear in a message: as is, stripped, as Python's
  ``repr`` of the text or of its UTF-8 bytes shows it (``b'Bearer sk-...\\n'`` in an
  ``Illegal header value`` error), JSON-escaped, percent-encoded;
* the credentials of any URL (``//user:secret@host``) and the value of every query
  parameter (``?api_key=...``): a URL's query is where hosted APIs take keys;
* the token after ``Bearer`` (an ``Authorization`` header echoed by a server).

The marker put in place of a secret is made of characters none of the secrets contains, so a
secret can neither survive nor be rebuilt around the marker.

``check_key(variable, value)`` refuses, in one line naming the variable and never the value, a
key that no HTTP header can carry or that was read with its trailing newline: surrounding
whitespace, control characters, non-ASCII characters.
"""

from __future__ import annotations

import json
import re
from typing import Iterable
from urllib.parse import quote, quote_plus

from pytest_llmselect.errors import SpecError

__all__ = ["check_key", "redact"]

_USERINFO = re.compile(r"(?<=://)[^/?#@\s]*@")
# A query's values: after ? or & up to the next separator, quote or whitespace.
_QUERY_VALUE = re.compile(r"(?<=[?&])([^=&#\s'\"<>]*=)[^&#\s'\"<>]+")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\"\\,;]+")
_MARKER_CHARS = "*#~%^!$?=+"


def _forms(secret: str) -> set[str]:
    """The ways ``secret`` can be spelt inside a message."""
    forms = {secret, secret.strip()}
    forms.add(repr(secret)[1:-1])
    forms.add(repr(secret.encode("utf-8", "surrogatepass"))[2:-1])
    forms.add(json.dumps(secret)[1:-1])
    forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
    forms.add(quote(secret, safe=""))
    forms.add(quote_plus(secret, safe=""))
    return {f for f in forms if f}


def _marker(secrets: Iterable[str]) -> str:
    used = set("".join(secrets))
    for c in _MARKER_CHARS:
        if c not in used:
            return c * 3
    for code in range(0x2580, 0x2600):  # block elements: a secret holding all of these is no key
        if chr(code) not in used:
            return chr(code) * 3
    return ""  # every candidate character is in a secret: drop them, leave nothing in their place


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with the given secrets, URL credentials and query values, and Bearer tokens
    replaced by a marker (see the module docstring)."""
    given = [s for s in secrets if s]
    forms = sorted({f for s in given for f in _forms(s)}, key=len, reverse=True)
    marker = _marker(forms)
    out = _USERINFO.sub(marker + "@", text)
    out = _QUERY_VALUE.sub(lambda m: m.group(1) + marker, out)
    out = _BEARER.sub(lambda m: m.group(1) + marker, out)
    for form in forms:  # the longest first: a form inside another goes with it
        out = out.replace(form, marker)
    return out


def check_key(variable: str, value: str) -> str:
    """``value`` when an HTTP ``Authorization`` header can carry it as it is; otherwise a
    ``SpecError`` in one line that names ``$variable`` and what is wrong, never the value."""
    where = f"${variable}"
    if not value:
        raise SpecError(f"the API key in {where} is empty")
    if value != value.strip():
        raise SpecError(f"the API key in {where} has leading or trailing whitespace (a newline from the "
                        "file it was read from?); remove it")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise SpecError(f"the API key in {where} contains a control character (a newline?); remove it")
    if not value.isascii():
        raise SpecError(f"the API key in {where} contains non-ASCII characters, which an HTTP header "
                        "cannot carry; check the value")
    if any(c.isspace() for c in value):
        raise SpecError(f"the API key in {where} contains whitespace; check the value")
    return value
