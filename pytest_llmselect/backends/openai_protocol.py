"""The OpenAI-compatible wire format: request bodies and response parsing. Pure, no I/O.

Kept apart from the HTTP client (``openai.py``) so that every parser here can be
fuzzed without a server. Sources: OpenAI's API reference for ``/v1/completions`` and
``/v1/chat/completions`` (``usage``, streamed ``data:`` lines ending in ``[DONE]``,
``logprobs.tokens`` / ``token_logprobs`` / ``top_logprobs`` / ``text_offset``), vLLM's
``prompt_logprobs`` extension, and RFC 9110 section 10.2.3 for ``Retry-After``.
"""

from __future__ import annotations

import email.utils
import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

from pytest_llmselect.backends.base import GenerateRequest

__all__ = [
    "ProtocolError",
    "ScoredPrompt",
    "chat_body",
    "completion_body",
    "cut_at_stop",
    "null_text",
    "parse_retry_after",
    "parse_sse_line",
    "prompt_token_logprobs",
    "score_continuation",
    "usage_tokens",
]


class ProtocolError(ValueError):
    """A response that does not have the shape the OpenAI API documents."""


def completion_body(model: str, req: GenerateRequest, *, stream: bool) -> dict[str, Any]:
    """Body of a greedy ``/v1/completions`` request for a raw prompt."""
    body: dict[str, Any] = {"model": model, "prompt": req.prompt, "max_tokens": req.max_new_tokens,
                            "temperature": 0.0}
    return _finish_body(body, req, stream)


def chat_body(model: str, req: GenerateRequest, *, stream: bool) -> dict[str, Any]:
    """Body of a greedy ``/v1/chat/completions`` request for chat messages."""
    if req.messages is None:
        raise ValueError("chat_body needs a request with messages")
    body: dict[str, Any] = {"model": model, "messages": [m.to_dict() for m in req.messages],
                            "max_tokens": req.max_new_tokens, "temperature": 0.0}
    return _finish_body(body, req, stream)


def _finish_body(body: dict[str, Any], req: GenerateRequest, stream: bool) -> dict[str, Any]:
    if req.temperature > 0:  # sampled: the server's own sampler, with the request's seed where it honours one
        body["temperature"] = req.temperature
        if req.top_p < 1.0:
            body["top_p"] = req.top_p
        if req.seed is not None:
            body["seed"] = req.seed
    stops = [s for s in req.stop if s]
    if stops:
        body["stop"] = stops
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def parse_sse_line(line: str) -> dict[str, Any] | None:
    """One line of a server-sent-event stream: the JSON object of a ``data:`` line, or None for
    blank lines, comments, other fields and ``data: [DONE]``. A ``data:`` line that is not a JSON
    object is a ProtocolError."""
    if not line.startswith("data:"):
        return None
    payload = line[5:].strip()
    if not payload or payload == "[DONE]":
        return None
    try:
        value = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"stream line is not JSON: {payload[:80]!r} ({exc.msg})") from None
    if not isinstance(value, dict):
        raise ProtocolError(f"stream line is not a JSON object: {payload[:80]!r}")
    return value


def chunk_text(chunk: Mapping[str, Any], *, chat: bool) -> str:
    """The new text of one streamed chunk (``choices[0].text`` or ``choices[0].delta.content``)."""
    choices = chunk.get("choices") or []
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        return ""
    first = choices[0]
    if chat:
        delta = first.get("delta") or {}
        text = delta.get("content") if isinstance(delta, Mapping) else None
    else:
        text = first.get("text")
    return text if isinstance(text, str) else ""


def null_text(chunk: Mapping[str, Any]) -> bool:
    """True when a streamed completions chunk says its text is ``null``: the same answer
    unstreamed has no text (``response_text`` refuses it), so a stream must not read it as ""."""
    choices = chunk.get("choices")
    return (isinstance(choices, list) and bool(choices) and isinstance(choices[0], Mapping)
            and "text" in choices[0] and choices[0]["text"] is None)


def finished(chunk: Mapping[str, Any]) -> bool:
    """True when a streamed chunk carries a ``finish_reason`` (the answer ended)."""
    choices = chunk.get("choices")
    return (isinstance(choices, list) and bool(choices) and isinstance(choices[0], Mapping)
            and bool(choices[0].get("finish_reason")))


def response_text(body: Mapping[str, Any], *, chat: bool) -> str:
    """The text of a non-streamed response."""
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise ProtocolError("response has no choices")
    first = choices[0]
    if chat:
        message = first.get("message")
        text = message.get("content") if isinstance(message, Mapping) else None
        text = "" if text is None else text
    else:
        text = first.get("text")
    if not isinstance(text, str):
        raise ProtocolError(f"response choice has no text: {first!r:.120}")
    return text


def usage_tokens(body: Mapping[str, Any]) -> tuple[int, int] | None:
    """(prompt_tokens, completion_tokens) from a response's ``usage``, or None when it has none."""
    usage = body.get("usage")
    if not isinstance(usage, Mapping):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens", 0)
    for name, value in (("prompt_tokens", prompt), ("completion_tokens", completion)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ProtocolError(f"usage.{name} must be a non-negative integer, got {value!r}")
    return prompt, completion


def cut_at_stop(text: str, stops: tuple[str, ...]) -> str:
    """``text`` up to the first stop string. OpenAI servers leave the stop string out already; some
    (transformers serve) return it; cutting again is harmless either way."""
    cuts = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return text[: min(cuts)] if cuts else text


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP-date (RFC 9110
    10.2.3). None when absent or unparseable; a date in the past gives 0."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    if seconds is not None:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


# ---- log-likelihood from prompt log-probabilities -----------------------------------------------


@dataclass(frozen=True)
class ScoredPrompt:
    """Per prompt token: its text, its log-probability (None for the first token, which has no
    context), whether it was the most likely token at its position (None when unknown), and
    its character offset in the prompt when the server gave one (``text_offset``)."""

    tokens: tuple[str, ...]
    logprobs: tuple[float | None, ...]
    greedy: tuple[bool | None, ...]
    offsets: tuple[int, ...] | None = None


def prompt_token_logprobs(choice: Mapping[str, Any], n_prompt_tokens: int) -> ScoredPrompt | None:
    """The prompt tokens' log-probabilities of a completions choice, from ``logprobs`` (echo) or
    vLLM's ``prompt_logprobs``; None when the server returned neither (it cannot score)."""
    lp = choice.get("logprobs")
    if isinstance(lp, Mapping) and isinstance(lp.get("token_logprobs"), list) and isinstance(lp.get("tokens"), list):
        tokens, values = lp["tokens"], lp["token_logprobs"]
        tops = lp.get("top_logprobs") if isinstance(lp.get("top_logprobs"), list) else [None] * len(tokens)
        if len(tokens) < n_prompt_tokens or len(values) < n_prompt_tokens:
            return None  # logprobs of the generated token only: the server did not echo the prompt
        out_tokens, out_lp, out_greedy = [], [], []
        for i in range(n_prompt_tokens):
            tok, value = tokens[i], values[i]
            if not isinstance(tok, str):
                raise ProtocolError(f"logprobs.tokens[{i}] is not a string: {tok!r}")
            value = _logprob(value, i, allow_none=(i == 0))
            top = tops[i] if i < len(tops) else None
            out_tokens.append(tok)
            out_lp.append(value)
            out_greedy.append(_is_top(value, top))
        offsets = lp.get("text_offset")
        valid = (isinstance(offsets, list) and len(offsets) >= n_prompt_tokens
                 and all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets[:n_prompt_tokens]))
        return ScoredPrompt(tuple(out_tokens), tuple(out_lp), tuple(out_greedy),
                            tuple(offsets[:n_prompt_tokens]) if valid else None)
    plp = choice.get("prompt_logprobs")
    if isinstance(plp, list) and len(plp) >= n_prompt_tokens:
        out_tokens, out_lp, out_greedy = [], [], []
        for i in range(n_prompt_tokens):
            entry = plp[i]
            if entry is None:
                if i != 0:
                    raise ProtocolError(f"prompt_logprobs[{i}] is null")
                out_tokens.append("")
                out_lp.append(None)
                out_greedy.append(None)
                continue
            if not isinstance(entry, Mapping) or not entry:
                raise ProtocolError(f"prompt_logprobs[{i}] is not a mapping of token ids: {entry!r:.80}")
            # vLLM lists the prompt token first, then the top alternatives; each has logprob and rank.
            first = next(iter(entry.values()))
            if not isinstance(first, Mapping):
                raise ProtocolError(f"prompt_logprobs[{i}] entry has no logprob: {first!r:.80}")
            value = _logprob(first.get("logprob"), i, allow_none=False)
            token = first.get("decoded_token")
            rank = first.get("rank")
            out_tokens.append(token if isinstance(token, str) else "")
            out_lp.append(value)
            out_greedy.append(rank == 1 if isinstance(rank, int) and not isinstance(rank, bool) else None)
        return ScoredPrompt(tuple(out_tokens), tuple(out_lp), tuple(out_greedy))
    return None


def _logprob(value: Any, i: int, *, allow_none: bool) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value > 1e-6:
        raise ProtocolError(f"log-probability of prompt token {i} must be a number <= 0, got {value!r}")
    return float(value)


def _is_top(value: float | None, top: Any) -> bool | None:
    if value is None or not isinstance(top, Mapping) or not top:
        return None
    best = max((v for v in top.values() if isinstance(v, (int, float)) and not isinstance(v, bool)), default=None)
    return None if best is None else value >= best - 1e-6


def score_continuation(scored: ScoredPrompt, boundary: int, prompt_length: int) -> tuple[float, int, bool]:
    """(summed log-probability, tokens scored, all greedy) of the tokens that end after character
    ``boundary`` of a prompt of ``prompt_length`` characters; a token that straddles the boundary
    counts as continuation. A token ends at its ``text_offset`` plus its length; without offsets,
    ends are counted back from the end of the prompt (the token texts concatenate to the prompt,
    and the first token's text may be unknown, as in vLLM's ``prompt_logprobs``)."""
    if scored.offsets is not None:
        ends = [o + len(t) for o, t in zip(scored.offsets, scored.tokens)]
    else:
        ends, end = [], prompt_length
        for tok in reversed(scored.tokens):
            ends.append(end)
            end -= len(tok)
        ends.reverse()
    total, count, greedy = 0.0, 0, True
    for end, value, top in zip(ends, scored.logprobs, scored.greedy):
        if end <= boundary:
            continue
        if value is None:
            raise ProtocolError("the first prompt token has no log-probability; the context must not be empty")
        total += value
        count += 1
        greedy = greedy and top is not False
    if count == 0:
        raise ProtocolError(f"no prompt tokens after character {boundary}: the server's tokens do not spell the prompt")
    return total, count, greedy
