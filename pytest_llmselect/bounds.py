"""Bounded outputs: an answer is never longer than its request allows, a stored output never
larger than a cap. Pure: no I/O.

A server can answer more than ``max_tokens`` allows (a bug, a proxy that ignores the field, a
hostile endpoint): by its own ``usage`` (more completion tokens than asked for) or by its text
(more characters than ``max_tokens`` tokens can spell). Such an answer is cut to the limit and
flagged, and its token count is clipped to ``max_tokens`` so it is never priced above what the
request could cost. ``CHARS_PER_TOKEN`` is generous on purpose: the longest tokens of common
vocabularies (runs of spaces in code tokenizers) stay well under it, so an honest answer is
never cut.

Separately, what is *stored* (run log, reports) is capped at ``STORED_OUTPUT_CHARS`` with the
full length recorded, so one huge answer cannot make every file huge.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CHARS_PER_TOKEN", "STORED_OUTPUT_CHARS", "Bounded", "bound_answer", "cap_stored"]

CHARS_PER_TOKEN = 64
STORED_OUTPUT_CHARS = 4096


@dataclass(frozen=True)
class Bounded:
    """An answer within its request's limit. ``cut``: why it was cut (None: it was not);
    ``full_chars``: the length of the text as received."""

    text: str
    output_tokens: int
    cut: str | None
    full_chars: int


def bound_answer(text: str, output_tokens: int, max_tokens: int, *, full_chars: int | None = None) -> Bounded:
    """``text`` and ``output_tokens`` held to ``max_tokens`` (see the module docstring).
    ``full_chars``: the length received when ``text`` is already a prefix of it (a stream
    read without holding all of it)."""
    limit = max(0, int(max_tokens)) * CHARS_PER_TOKEN
    full = len(text) if full_chars is None else max(full_chars, len(text))
    reasons = []
    if output_tokens > max_tokens:
        reasons.append(f"the server counted {output_tokens} output tokens for max_tokens={max_tokens}")
    if full > limit:
        reasons.append(f"{full} characters, more than {max_tokens} tokens can spell")
    if not reasons:
        return Bounded(text, output_tokens, None, full)
    return Bounded(text[:limit], min(output_tokens, max_tokens), "answer cut to the request's limit: "
                   + "; ".join(reasons), full)


def cap_stored(text: str, limit: int = STORED_OUTPUT_CHARS) -> tuple[str, int | None]:
    """``text`` as stored: at most ``limit`` characters, and its full length when it was cut
    (None when it was kept whole)."""
    if len(text) <= limit:
        return text, None
    return text[:limit], len(text)
