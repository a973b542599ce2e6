"""Models behind an OpenAI-compatible HTTP server (vLLM, TGI, SGLang, llama.cpp, ``transformers serve``,
a hosted API): the ``openai:MODEL@BASE_URL`` candidates.

Rules the session, cost module and reports rely on:

* Requests are greedy (``temperature`` 0). A raw prompt goes to ``/completions``, chat
  ``messages`` to ``/chat/completions``; ``max_new_tokens`` is ``max_tokens``; stop
  strings are sent as ``stop`` and the text is cut before the first one (some servers
  return it).
* Up to ``max_concurrency`` requests are in flight at once, on one ``httpx.AsyncClient``
  (connection pool, keep-alive) driven by an event loop on a thread of its own, so the
  backend keeps the synchronous protocol the session calls.
* A 408, 429, 5xx, timeout or dropped connection is retried up to ``max_retries`` times
  (tenacity): exponential backoff with jitter, and never sooner than the server's
  ``Retry-After``. Any other HTTP error, and the last failure, is one ``BackendError``
  line naming the URL.
* ``latency_seconds``: the request's own round trip (its last attempt; backoff waits are
  not latency). ``first_token_seconds``: from sending that attempt to the first streamed
  chunk with text (None when not streaming). Token counts come from the response's
  ``usage``; a response without one is an error, never a silent zero cost.
* Log-likelihood needs prompt log-probabilities: completions with ``echo`` and
  ``logprobs`` (vLLM, the OpenAI legacy API) or vLLM's ``prompt_logprobs``. Which one
  works is found once with a one-token probe; a server with neither makes
  ``loglikelihood`` raise a ``BackendError`` naming the missing capability before any of
  the task's requests is sent.
* The API key is read from the environment variable the candidate names, kept only in the
  client's ``Authorization`` header and removed from every error message.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import ssl
import threading
import time
from typing import Any, Awaitable, Callable, Sequence, TypeVar

import httpx
import tenacity

from pytest_llmselect.backends.base import (
    GenerateRequest,
    GenerateResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    ModelInfo,
)
from pytest_llmselect.backends.openai_protocol import (
    ProtocolError,
    chat_body,
    chunk_text,
    completion_body,
    finished,
    cut_at_stop,
    parse_retry_after,
    parse_sse_line,
    prompt_token_logprobs,
    response_text,
    score_continuation,
    usage_tokens,
)
from pytest_llmselect.endpoints import ServedSettings
from pytest_llmselect.errors import BackendError, CapabilityError, PartialBatch, ServerUnreachable, SpecError

__all__ = ["OpenAIBackend", "RetryAfterWait", "probe_server"]

T = TypeVar("T")
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 120.0  # a server asking for longer is waited on this long at most per attempt
LOGPROB_MODES = ("echo", "prompt_logprobs")


class _Retryable(Exception):
    """One failed attempt that may succeed when repeated."""

    def __init__(self, what: str, retry_after: float | None = None) -> None:
        super().__init__(what)
        self.retry_after = retry_after


class RetryAfterWait(tenacity.wait.wait_base):
    """Exponential backoff with jitter (``initial * 2**(attempt-1)`` plus up to ``jitter`` s,
    capped at ``maximum``), but never shorter than the failed attempt's ``Retry-After``."""

    def __init__(self, initial: float = 0.5, maximum: float = 30.0, jitter: float = 0.5) -> None:
        # tenacity 9.2 renamed ``initial`` to ``multiplier``; older releases know only ``initial``.
        first = "multiplier" if "multiplier" in inspect.signature(tenacity.wait_exponential_jitter).parameters \
            else "initial"
        self._backoff = tenacity.wait_exponential_jitter(**{first: initial}, max=maximum, jitter=jitter)

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        wait = float(self._backoff(retry_state))
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            wait = max(wait, min(float(retry_after), MAX_RETRY_AFTER_S))
        return wait


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, (_Retryable, httpx.TimeoutException, httpx.TransportError, asyncio.TimeoutError))


class _StatusError(BackendError):
    """The server answered an HTTP error that repeating will not fix (a 4xx other than 408/429)."""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, (httpx.TimeoutException, asyncio.TimeoutError)):
        return f"timed out ({type(exc).__name__})"
    lines = str(exc).strip().splitlines()
    if isinstance(exc, _Retryable):
        return lines[0] if lines else "failed"
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _detail(response: httpx.Response) -> str:
    """The first line of an error body, short: servers put the reason there."""
    try:
        body = response.json()
        if isinstance(body, dict):
            err = body.get("error", body.get("detail", body))
            if isinstance(err, dict):
                err = err.get("message", err)
            text = str(err)
        else:
            text = str(body)
    except (ValueError, UnicodeDecodeError):
        text = response.text
    lines = text.strip().splitlines()
    return lines[0][:200] if lines else ""


def _tls() -> ssl.SSLContext:
    """The certificate store clients verify servers against: httpx's default (certifi's bundle,
    or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``), built once per value of those variables. httpx
    builds one per client otherwise, about 35 ms each, and a run opens a client for the check
    before anything runs and two per served model (its check and its connection pool)."""
    return _tls_for(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.lru_cache(maxsize=4)
def _tls_for(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    del cert_file, cert_dir  # the cache key: httpx reads them from the environment itself
    return httpx.create_ssl_context(verify=True, trust_env=True)


def probe_server(settings: ServedSettings, *, name: str, api_key: str | None) -> dict[str, Any]:
    """``GET base_url/models`` once: the server's identity, or a one-line SpecError naming the URL
    when it cannot be reached or refuses the key. Used before anything runs."""
    url = f"{settings.base_url}/models"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        response = httpx.get(url, headers=headers, timeout=min(settings.timeout_s, 10.0), verify=_tls())
    except httpx.HTTPError as exc:
        raise SpecError(_redact(f"candidate {name!r}: cannot reach the server at {settings.base_url} "
                                f"({_describe(exc)})", api_key)) from None
    if response.status_code in (401, 403):
        via = f"${settings.api_key_env}" if settings.api_key_env else "no key (set api_key_env)"
        raise SpecError(f"candidate {name!r}: the server at {settings.base_url} refused the API key from "
                        f"{via} (HTTP {response.status_code})")
    identity: dict[str, Any] = {"base_url": settings.base_url, "model": settings.model,
                                "server": response.headers.get("server")}
    if response.status_code == 200:
        try:
            listed = response.json().get("data", [])
        except (ValueError, AttributeError):
            listed = []
        for entry in listed if isinstance(listed, list) else []:
            if isinstance(entry, dict) and entry.get("id") == settings.model:
                identity.update({k: entry.get(k) for k in ("owned_by", "created", "root") if entry.get(k) is not None})
                identity["listed"] = True
    return identity


def _redact(text: str, key: str | None) -> str:
    return text.replace(key, "***") if key else text


class OpenAIBackend:
    """A model behind an OpenAI-compatible server; see the module docstring."""

    def __init__(self, settings: ServedSettings, info: ModelInfo, api_key: str | None, *,
                 backoff_s: float = 0.5) -> None:
        self.settings = settings
        self.info = info
        self._key = api_key
        self._backoff_s = backoff_s
        self.retries = 0  # attempts repeated after a retryable failure, over the backend's life
        # Set when a request got no answer after every retry: later requests fail at once (no
        # retries against a dead server) until a check of the server finds it answering again.
        self._down: str | None = None
        self._logprob_mode: str | None = None
        self._logprob_checked = False
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"llmselect-http-{info.name}",
                                        daemon=True)
        self._thread.start()
        limits = httpx.Limits(max_connections=settings.max_concurrency,
                              max_keepalive_connections=settings.max_concurrency)
        self._client: httpx.AsyncClient | None = httpx.AsyncClient(
            base_url=settings.base_url, headers=headers, limits=limits,
            timeout=httpx.Timeout(settings.timeout_s), verify=_tls())
        self._closed = False

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

    # ---- plumbing ---------------------------------------------------------------------------

    def _run(self, coro: Awaitable[T]) -> T:
        if self._closed:
            raise BackendError(f"model {self.info.name!r} was closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()  # type: ignore[arg-type]

    def close(self) -> None:
        """Close the connection pool and stop the event loop; later calls raise ``BackendError``."""
        if self._closed:
            return
        client, self._client = self._client, None
        if client is not None:
            asyncio.run_coroutine_threadsafe(client.aclose(), self._loop).result()
        self._closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def _error(self, text: str, kind: type[BackendError] = BackendError) -> BackendError:
        return kind(_redact(f"model {self.info.name!r} at {self.settings.base_url}: {text}", self._key))

    async def _all(self, requests: Sequence[Any], one: Callable[[Any], Awaitable[T]]) -> list[T]:
        gate = asyncio.Semaphore(self.settings.max_concurrency)

        async def guarded(req: Any) -> T:
            async with gate:
                return await one(req)

        tasks = [asyncio.ensure_future(guarded(r)) for r in requests]
        try:
            # Every request runs to its own end: one failure cancels nothing already paid for.
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        except BaseException:  # cancelled from outside (the session is closing)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
                raise outcome  # KeyboardInterrupt, cancellation: not a request's own failure
        failed = [o for o in outcomes if isinstance(o, Exception)]
        if not failed:
            return list(outcomes)
        if len(outcomes) == 1:
            raise failed[0]
        raise PartialBatch(list(outcomes), f"{failed[0]} ({len(failed)} of {len(outcomes)} requests failed)")

    async def _with_retries(self, path: str, attempt: Callable[[], Awaitable[T]]) -> T:
        if self._down is not None:
            raise ServerUnreachable(self._down)
        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(self.settings.max_retries + 1),
            wait=RetryAfterWait(initial=self._backoff_s),
            retry=tenacity.retry_if_exception(_retryable),
            reraise=True,
        )
        tries = 0
        try:
            async for state in retrying:
                with state:
                    tries += 1
                    if tries > 1:
                        self.retries += 1
                    return await asyncio.wait_for(attempt(), self.settings.timeout_s)
        except BackendError:
            raise
        except ProtocolError as exc:
            raise self._error(f"{path}: malformed response: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - retryable kinds after the last attempt
            if not _retryable(exc):
                raise
            if isinstance(exc, _Retryable):  # the server answered, with 429 or 5xx
                raise self._error(f"{path} failed after {tries} attempt(s): {_describe(exc)}") from None
            down = self._error(f"no answer from the server: {path} failed after {tries} attempt(s): "
                               f"{_describe(exc)}", ServerUnreachable)
            self._down = str(down)
            raise down from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _check(self, response: httpx.Response, path: str) -> None:
        if response.status_code == 200:
            return
        detail = _detail(response)
        what = f"HTTP {response.status_code}" + (f": {detail}" if detail else "")
        if response.status_code in RETRY_STATUS:
            raise _Retryable(what, parse_retry_after(response.headers.get("retry-after")))
        raise self._error(f"{path} answered {what}", _StatusError)

    def _check_back(self) -> None:
        """After the server stopped answering, one ``GET /models`` before a new batch: if it
        answers, requests are sent again."""
        if self._down is not None:
            try:
                probe_server(self.settings, name=self.info.name, api_key=self._key)
            except SpecError:
                return
            self._down = None

    def _client_or_fail(self) -> httpx.AsyncClient:
        if self._client is None:
            raise BackendError(f"model {self.info.name!r} was closed")
        return self._client

    # ---- generation -------------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerateRequest], batch_size: int = 16) -> list[GenerateResult]:
        """Greedy continuations, in the order of ``requests``; ``batch_size`` is ignored (the
        server batches; ``max_concurrency`` bounds what is in flight)."""
        if not requests:
            return []
        self._check_back()
        return self._run(self._all(requests, self._generate_one))

    async def _generate_one(self, req: GenerateRequest) -> GenerateResult:
        chat = req.is_chat
        path = "/chat/completions" if chat else "/completions"
        stream = self.settings.stream
        body = (chat_body if chat else completion_body)(self.settings.model, req, stream=stream)
        timing: dict[str, float | None] = {}

        async def attempt() -> tuple[str, tuple[int, int] | None]:
            timing["start"], timing["ttft"] = time.perf_counter(), None
            if stream:
                return await self._stream(path, body, chat, timing)
            response = await self._client_or_fail().post(path, json=body)
            self._check(response, path)
            data = response.json()
            return response_text(data, chat=chat), usage_tokens(data)

        text, usage = await self._with_retries(path, attempt)
        latency = time.perf_counter() - (timing["start"] or 0.0)
        if usage is None:
            raise self._error(f"{path} returned no usage: token counts and token prices need it")
        return GenerateResult(text=cut_at_stop(text, req.stop), input_tokens=usage[0], output_tokens=usage[1],
                              first_token_seconds=timing["ttft"], latency_seconds=latency)

    async def _stream(self, path: str, body: dict[str, Any], chat: bool,
                      timing: dict[str, float | None]) -> tuple[str, tuple[int, int] | None]:
        parts: list[str] = []
        usage = None
        async with self._client_or_fail().stream("POST", path, json=body) as response:
            if response.status_code != 200:
                await response.aread()
                self._check(response, path)
            async for line in response.aiter_lines():
                chunk = parse_sse_line(line)
                if chunk is None:
                    continue
                if "error" in chunk:
                    raise self._error(f"{path} stream reported an error: {str(chunk['error'])[:200]}")
                piece = chunk_text(chunk, chat=chat)
                # The first token shows as the first text, or, for an answer that is only an EOS,
                # as the chunk that says it finished.
                if timing["ttft"] is None and (piece or finished(chunk)):
                    timing["ttft"] = time.perf_counter() - (timing["start"] or 0.0)
                parts.append(piece)
                usage = usage_tokens(chunk) or usage
        return "".join(parts), usage

    # ---- log-likelihood -----------------------------------------------------------------------

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest], batch_size: int = 16
                      ) -> list[LoglikelihoodResult]:
        """Summed log-probability of each continuation given its context, from the server's prompt
        log-probabilities (see the module docstring); ``BackendError`` when it returns none."""
        if not requests:
            return []
        self._check_back()
        mode = self.logprob_mode()
        if mode is None:
            raise self._error(
                "cannot score log-likelihood (multiple-choice tasks): the server returns no prompt "
                "log-probabilities (tried completions with echo+logprobs and prompt_logprobs); "
                "serve the model with vLLM, or use generation tasks for this candidate", CapabilityError)
        return self._run(self._all(requests, lambda r: self._score_one(r, mode)))

    def logprob_mode(self) -> str | None:
        """"echo", "prompt_logprobs" or None (cannot score); probed once with a one-token request."""
        if not self._logprob_checked:
            self._logprob_mode = self._run(self._probe_logprobs())
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
                data = await self._with_retries("/completions", lambda m=mode: self._post_json(
                    "/completions", self._logprob_body("1 2", m)))
            except _StatusError:
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

    async def _post_json(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self._client_or_fail().post(path, json=body)
        self._check(response, path)
        data = response.json()
        if not isinstance(data, dict):
            raise ProtocolError("response is not a JSON object")
        return data

    async def _score_one(self, req: LoglikelihoodRequest, mode: str) -> LoglikelihoodResult:
        # As the local backend (and lm-eval): the context's trailing whitespace moves to the continuation.
        context = req.context.rstrip()
        prompt = req.context + req.continuation
        start: list[float] = []

        async def attempt() -> dict[str, Any]:
            start[:] = [time.perf_counter()]
            return await self._post_json("/completions", self._logprob_body(prompt, mode))

        data = await self._with_retries("/completions", attempt)
        latency = time.perf_counter() - start[0]
        usage = usage_tokens(data)
        choices = data.get("choices")
        if usage is None or not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise self._error("/completions returned no usage or choices for a log-likelihood request")
        try:
            scored = prompt_token_logprobs(choices[0], usage[0])
            if scored is None:
                raise ProtocolError("no prompt log-probabilities in the response")
            logprob, count, greedy = score_continuation(scored, len(context), len(prompt))
        except ProtocolError as exc:
            raise self._error(f"/completions: cannot score {req.continuation!r}: {exc}") from None
        return LoglikelihoodResult(logprob=logprob, num_tokens=count, num_chars=len(req.continuation),
                                   is_greedy=greedy, input_tokens=usage[0], latency_seconds=latency)
