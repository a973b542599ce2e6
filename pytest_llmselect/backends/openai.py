"""Models behind an OpenAI-compatible HTTP server (vLLM, TGI, SGLang, llama.cpp, ``transformers serve``,
a hosted API): the ``openai:MODEL@BASE_URL`` candidates. This module maps requests to the API and
answers to results; the connection, concurrency, retries and the server's health are
``openai_client.py``, the wire format ``openai_protocol.py``.

Rules the session, cost module and reports rely on:

* Requests are greedy (``temperature`` 0) unless sampled (``temperature``, ``top_p``, ``seed`` sent). A raw prompt goes to ``/completions``, chat
  ``messages`` to ``/chat/completions``; ``max_new_tokens`` is ``max_tokens``; stop
  strings are sent as ``stop`` and the text is cut before the first one (some servers
  return it).
* Up to ``max_concurrency`` requests are in flight at once; failed attempts are retried
  (``openai_client.py``), and the last failure is one ``BackendError`` line naming the URL.
* ``latency_seconds``: the request's own round trip (its last attempt; backoff waits are
  not latency). ``first_token_seconds``: from sending that attempt to the first streamed
  chunk with text (None when not streaming). Token counts come from the response's
  ``usage``; a response without one is an error, never a silent zero cost. A ``null`` text
  is an error streamed or not.
* An answer longer than ``max_tokens`` allows, by its usage or by its characters, is cut to
  the limit, counted at ``max_tokens`` and flagged (``GenerateResult.cut``; ``bounds.py``).
* Each answer is handed to ``on_result`` as it arrives (``answers_separately``), so the
  response cache keeps it at once.
* Log-likelihood needs prompt log-probabilities: completions with ``echo`` and
  ``logprobs`` (vLLM, the OpenAI legacy API) or vLLM's ``prompt_logprobs``. Which one
  works is found once with a one-token probe; a server with neither makes
  ``loglikelihood`` raise a ``BackendError`` naming the missing capability before any of
  the task's requests is sent.
* The API key is read from the environment variable the candidate names, kept only in the
  client's ``Authorization`` header and removed from every error message.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

from pytest_llmselect.backends.base import (
    GenerateRequest,
    GenerateResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    ModelInfo,
)
from pytest_llmselect.backends.openai_client import RetryAfterWait, ServerClient, StatusError, probe_server
from pytest_llmselect.backends.openai_protocol import (
    ProtocolError,
    chat_body,
    chunk_text,
    completion_body,
    cut_at_stop,
    finished,
    null_text,
    parse_sse_line,
    prompt_token_logprobs,
    response_text,
    score_continuation,
    usage_tokens,
)
from pytest_llmselect.bounds import CHARS_PER_TOKEN, bound_answer
from pytest_llmselect.endpoints import ServedSettings
from pytest_llmselect.errors import BackendError, CapabilityError, SpecError

__all__ = ["OpenAIBackend", "RetryAfterWait", "probe_server"]

LOGPROB_MODES = ("echo", "prompt_logprobs")


class OpenAIBackend:
    """A model behind an OpenAI-compatible server; see the module docstring."""

    answers_separately = True  # each request ends on its own: results can be kept one by one

    def __init__(self, settings: ServedSettings, info: ModelInfo, api_key: str | None, *,
                 backoff_s: float = 0.5) -> None:
        self.settings = settings
        self.info = info
        self._logprob_mode: str | None = None
        self._logprob_checked = False
        self._server = ServerClient(settings, info.name, api_key, backoff_s=backoff_s)

    @classmethod
    def load(cls, settings: ServedSettings, *, display_name: str, backoff_s: float = 0.5) -> "OpenAIBackend":
        """Check the server answers and record its identity; a failure is one ``BackendError`` line."""
        start = time.perf_counter()
        try:
            key = settings.api_key()
            identity = probe_server(settings, name=display_name, api_key=key)
        except SpecError as exc:
            raise BackendError(str(exc)) from None
        info = ModelInfo(
            name=display_name, num_parameters=None, device="remote", dtype="server",  # type: ignore[arg-type]
            extra={"load_seconds": time.perf_counter() - start, "source": settings.base_url,
                   "identity": identity},
        )
        return cls(settings, info, key, backoff_s=backoff_s)

    @property
    def interrupted(self) -> bool:
        """Ctrl-C arrived while this model's requests were in flight (they were cancelled)."""
        return self._server.interrupted

    @property
    def retries(self) -> int:
        """Attempts repeated after a retryable failure, over the backend's life."""
        return self._server.retries

    def close(self) -> None:
        """Close the connection pool and stop the event loop; later calls raise ``BackendError``."""
        self._server.close()

    # ---- generation -------------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerateRequest], batch_size: int = 16, *,
                 on_result: Callable[[GenerateRequest, GenerateResult], None] | None = None) -> list[GenerateResult]:
        """Greedy continuations, in the order of ``requests``; ``batch_size`` is ignored (the
        server batches; ``max_concurrency`` bounds what is in flight). ``on_result`` gets each
        result as it arrives, on the client's thread."""
        if not requests:
            return []
        self._server.check_back()
        return self._server.run(self._server.all(requests, self._generate_one, on_result))

    async def _generate_one(self, req: GenerateRequest) -> GenerateResult:
        chat = req.is_chat
        path = "/chat/completions" if chat else "/completions"
        stream = self.settings.stream
        body = (chat_body if chat else completion_body)(self.settings.model, req, stream=stream)
        timing: dict[str, float | None] = {}

        async def attempt() -> tuple[str, tuple[int, int] | None, int]:
            timing["start"], timing["ttft"] = time.perf_counter(), None
            if stream:
                return await self._stream(path, body, chat, timing, req.max_new_tokens * CHARS_PER_TOKEN)
            response = await self._server.http().post(path, json=body)
            self._server.check(response, path)
            data = response.json()
            text = response_text(data, chat=chat)
            return text, usage_tokens(data), len(text)

        text, usage, full = await self._server.with_retries(path, attempt)
        latency = time.perf_counter() - (timing["start"] or 0.0)
        if usage is None:
            raise self._server.error(f"{path} returned no usage: token counts and token prices need it")
        bounded = bound_answer(text, usage[1], req.max_new_tokens, full_chars=full)
        return GenerateResult(text=cut_at_stop(bounded.text, req.stop), input_tokens=usage[0],
                              output_tokens=bounded.output_tokens, first_token_seconds=timing["ttft"],
                              latency_seconds=latency, cut=bounded.cut)

    async def _stream(self, path: str, body: dict[str, Any], chat: bool, timing: dict[str, float | None],
                      keep: int) -> tuple[str, tuple[int, int] | None, int]:
        """The streamed text (at most ``keep`` characters of it are held), its usage and its
        full length."""
        parts: list[str] = []
        held = total = 0
        usage = None
        async with self._server.http().stream("POST", path, json=body) as response:
            if response.status_code != 200:
                await response.aread()
                self._server.check(response, path)
            async for line in response.aiter_lines():
                chunk = parse_sse_line(line)
                if chunk is None:
                    continue
                if "error" in chunk:
                    raise self._server.error(f"{path} stream reported an error: {str(chunk['error'])[:200]}")
                piece = chunk_text(chunk, chat=chat)
                if not chat and null_text(chunk):
                    raise ProtocolError("response choice has no text (null)")  # as unstreamed
                # The first token shows as the first text, or, for an answer that is only an EOS,
                # as the chunk that says it finished.
                if timing["ttft"] is None and (piece or finished(chunk)):
                    timing["ttft"] = time.perf_counter() - (timing["start"] or 0.0)
                if held < keep:
                    parts.append(piece[:keep - held])
                total += len(piece)
                held = min(total, keep)
                usage = usage_tokens(chunk) or usage
        return "".join(parts), usage, total

    # ---- log-likelihood -----------------------------------------------------------------------

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest], batch_size: int = 16, *,
                      on_result: Callable[[LoglikelihoodRequest, LoglikelihoodResult], None] | None = None
                      ) -> list[LoglikelihoodResult]:
        """Summed log-probability of each continuation given its context, from the server's prompt
        log-probabilities (see the module docstring); ``BackendError`` when it returns none."""
        if not requests:
            return []
        self._server.check_back()
        mode = self.logprob_mode()
        if mode is None:
            raise self._server.error(
                "cannot score log-likelihood (multiple-choice tasks): the server returns no prompt "
                "log-probabilities (tried completions with echo+logprobs and prompt_logprobs); "
                "serve the model with vLLM, or use generation tasks for this candidate", CapabilityError)
        return self._server.run(self._server.all(requests, lambda r: self._score_one(r, mode), on_result))

    def logprob_mode(self) -> str | None:
        """"echo", "prompt_logprobs" or None (cannot score); probed once with a one-token request."""
        if not self._logprob_checked:
            self._logprob_mode = self._server.run(self._probe_logprobs())
            self._logprob_checked = True
        return self._logprob_mode

    def _logprob_body(self, prompt: str, mode: str) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.settings.model, "prompt": prompt, "max_tokens": 1,
                                "temperature": 0.0}
        body.update({"echo": True, "logprobs": 1} if mode == "echo" else {"prompt_logprobs": 1})
        return body

    async def _probe_logprobs(self) -> str | None:
        for mode in LOGPROB_MODES:
            try:
                data = await self._server.with_retries("/completions", lambda m=mode: self._server.post_json(
                    "/completions", self._logprob_body("1 2", m)))
            except StatusError:
                continue  # a 4xx for an unknown field: this mode is not supported
            usage = usage_tokens(data)
            choices = data.get("choices")
            if usage and isinstance(choices, list) and choices and isinstance(choices[0], dict):
                try:
                    if prompt_token_logprobs(choices[0], usage[0]) is not None:
                        return mode
                except ProtocolError:
                    continue
        return None

    async def _score_one(self, req: LoglikelihoodRequest, mode: str) -> LoglikelihoodResult:
        # As the local backend (and lm-eval): the context's trailing whitespace moves to the continuation.
        context = req.context.rstrip()
        prompt = req.context + req.continuation
        start: list[float] = []

        async def attempt() -> dict[str, Any]:
            start[:] = [time.perf_counter()]
            return await self._server.post_json("/completions", self._logprob_body(prompt, mode))

        data = await self._server.with_retries("/completions", attempt)
        latency = time.perf_counter() - start[0]
        usage = usage_tokens(data)
        choices = data.get("choices")
        if usage is None or not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise self._server.error("/completions returned no usage or choices for a log-likelihood request")
        try:
            scored = prompt_token_logprobs(choices[0], usage[0])
            if scored is None:
                raise ProtocolError("no prompt log-probabilities in the response")
            logprob, count, greedy = score_continuation(scored, len(context), len(prompt))
        except ProtocolError as exc:
            raise self._server.error(f"/completions: cannot score {req.continuation!r}: {exc}") from None
        return LoglikelihoodResult(logprob=logprob, num_tokens=count, num_chars=len(req.continuation),
                                   is_greedy=greedy, input_tokens=usage[0], latency_seconds=latency)
