"""The HTTP side of a served model: the check of a server before anything runs
(``probe_server``), one connection pool per model on an event loop of its own, how many
requests are in flight, retries, when the server counts as down, and error lines with the API
key removed. What is sent and how answers become results is ``openai.py``; the wire format is
``openai_protocol.py``.

* Up to ``max_concurrency`` requests are in flight at once, on one ``httpx.AsyncClient``
  (connection pool, keep-alive) driven by an event loop on a thread of its own, so the
  backend keeps the synchronous protocol the session calls.
* A 408, 429, 5xx, timeout or dropped connection is retried up to ``max_retries`` times
  (tenacity): exponential backoff with jitter, and never sooner than the server's
  ``Retry-After``. Any other HTTP error (400, 413, 422: the request itself) is one
  ``BackendError`` line naming the URL: its case errored.
* A request still failing after its retries is an outage, not the model's quality: a
  ``ServerFailed`` (its case is not run, the reason named). Only then is the server's
  health checked (``GET /models``, one check at a time): when that fails too, the server is
  down (``ServerUnreachable``) and later requests fail at once, unsent, until a check finds
  it answering again. One unlucky request never condemns a server that answers.
* Each answer goes to ``on_result`` the moment it arrives (the response cache keeps it), and
  Ctrl-C while ``run`` waits cancels the requests in flight cleanly: the finished ones are
  kept, the cancelled ones end as ``Interrupted``, and no task is left pending on the loop.
* The API key is kept only in the client's ``Authorization`` header; every error line goes
  through ``redact.redact``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import os
import ssl
import threading
from typing import Any, Awaitable, Callable, Sequence, TypeVar

import httpx
import tenacity

from pytest_llmselect.backends.openai_protocol import ProtocolError, parse_retry_after
from pytest_llmselect.endpoints import ServedSettings
from pytest_llmselect.errors import BackendError, Interrupted, PartialBatch, ServerFailed, ServerUnreachable, SpecError
from pytest_llmselect.redact import redact

__all__ = ["MAX_RETRY_AFTER_S", "RETRY_STATUS", "RetryAfterWait", "ServerClient", "StatusError", "probe_server"]

T = TypeVar("T")
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 120.0  # a server asking for longer is waited on this long at most per attempt


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


class StatusError(BackendError):
    """The server answered an HTTP error that repeating will not fix (a 4xx other than 408/429)."""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, (httpx.TimeoutException, asyncio.TimeoutError)):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"connection dropped ({str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__})"
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


def _auth(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def _reason(exc: BaseException) -> str:
    """A few words for the report's "not run" line: the status, a time-out or a dropped connection."""
    if isinstance(exc, _Retryable):
        return str(exc).split(":")[0]  # "HTTP 503"
    if isinstance(exc, (httpx.TimeoutException, asyncio.TimeoutError)):
        return "timed out"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "connection dropped"
    return "no answer"


def probe_server(settings: ServedSettings, *, name: str, api_key: str | None) -> dict[str, Any]:
    """``GET base_url/models`` once: the server's identity, or a one-line SpecError naming the URL
    when it cannot be reached or refuses the key. Used before anything runs."""
    url = f"{settings.base_url}/models"
    try:
        response = httpx.get(url, headers=_auth(api_key), timeout=min(settings.timeout_s, 10.0), verify=_tls())
    except httpx.HTTPError as exc:
        raise SpecError(redact(f"candidate {name!r}: cannot reach the server at {settings.base_url} "
                               f"({_describe(exc)})", [api_key])) from None
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


class ServerClient:
    """One served model's connection to its server; see the module docstring."""

    def __init__(self, settings: ServedSettings, name: str, api_key: str | None, *, backoff_s: float = 0.5) -> None:
        self.settings = settings
        self.name = name
        self._key = api_key
        self._backoff_s = backoff_s
        self.retries = 0  # attempts repeated after a retryable failure, over the client's life
        # Set when a request failed after every retry and a health check failed too: later requests
        # fail at once (no retries against a dead server) until a check finds it answering again.
        self._down: str | None = None
        self._health: asyncio.Lock | None = None  # one health check at a time, made on the loop
        self._checks = 0  # health checks finished: a request that waited on one uses its verdict
        self._healthy_last = True
        self._stop: asyncio.Event | None = None  # set on Ctrl-C: all() cancels what is in flight
        self.interrupted = False  # Ctrl-C arrived while requests were in flight
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"llmselect-http-{name}", daemon=True)
        self._thread.start()
        limits = httpx.Limits(max_connections=settings.max_concurrency,
                              max_keepalive_connections=settings.max_concurrency)
        self._client: httpx.AsyncClient | None = httpx.AsyncClient(
            base_url=settings.base_url, headers=_auth(api_key), limits=limits,
            timeout=httpx.Timeout(settings.timeout_s), verify=_tls())
        self._closed = False

    def run(self, coro: Awaitable[T]) -> T:
        """Run ``coro`` on the client's event loop and wait for its result. Ctrl-C while waiting
        cancels the requests in flight and waits for them to end: the answers
        already in are returned with the cancelled requests as ``Interrupted`` (a
        ``PartialBatch``); a second Ctrl-C stops waiting."""
        if self._closed:
            raise BackendError(f"model {self.name!r} was closed")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)  # type: ignore[arg-type]
        try:
            return future.result()
        except KeyboardInterrupt:
            self.interrupted = True
            self._loop.call_soon_threadsafe(self._cancel_in_flight, future)
            try:
                return future.result()
            except concurrent.futures.CancelledError:
                raise KeyboardInterrupt from None

    def _cancel_in_flight(self, future: concurrent.futures.Future) -> None:
        if self._stop is not None:
            self._stop.set()  # all(): cancels its requests and returns what finished
        else:
            future.cancel()  # anything else (a probe): cancelled outright

    def close(self) -> None:
        """Close the connection pool and stop the event loop; later calls raise ``BackendError``.
        Tasks still on the loop are cancelled and awaited first, so none is left pending."""
        if self._closed:
            return
        client, self._client = self._client, None
        asyncio.run_coroutine_threadsafe(self._drain(client), self._loop).result(timeout=60)
        self._closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    async def _drain(self, client: httpx.AsyncClient | None) -> None:
        pending = [t for t in asyncio.all_tasks(self._loop) if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if client is not None:
            await client.aclose()

    def error(self, text: str, kind: type[BackendError] = BackendError, **extra: Any) -> BackendError:
        """One error line naming the model and the server, the key removed."""
        return kind(redact(f"model {self.name!r} at {self.settings.base_url}: {text}", [self._key]), **extra)

    def http(self) -> httpx.AsyncClient:
        """The connection pool; ``BackendError`` once closed."""
        if self._client is None:
            raise BackendError(f"model {self.name!r} was closed")
        return self._client

    async def all(self, requests: Sequence[Any], one: Callable[[Any], Awaitable[T]],
                  on_result: Callable[[Any, T], None] | None = None) -> list[T]:
        """``one`` over every request, at most ``max_concurrency`` at a time, results in order;
        each result goes to ``on_result(request, result)`` as it arrives. Failures of some
        requests are a ``PartialBatch`` carrying the others' results; after Ctrl-C (``run``)
        the requests not answered yet are cancelled and end as ``Interrupted``."""
        gate = asyncio.Semaphore(self.settings.max_concurrency)
        stop = self._stop = asyncio.Event()

        async def guarded(req: Any) -> T:
            async with gate:
                result = await one(req)
            if on_result is not None:
                try:
                    on_result(req, result)
                except Exception:  # noqa: BLE001 - the store reports its own failures; the answer stands
                    pass
            return result

        tasks = [asyncio.ensure_future(guarded(r)) for r in requests]
        everything = asyncio.gather(*tasks, return_exceptions=True)
        stopped = asyncio.ensure_future(stop.wait())
        try:
            # Every request runs to its own end: one failure cancels nothing already paid for.
            await asyncio.wait({everything, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not everything.done():  # interrupted: cancel what is in flight, keep what came
                for t in tasks:
                    t.cancel()
            outcomes = await everything
        except BaseException:  # cancelled from outside (the session is closing)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            stopped.cancel()
            self._stop = None
        outcomes = [self.error("interrupted (Ctrl-C) before the server answered", Interrupted,
                               reason="interrupted (Ctrl-C) before its server answered")
                    if isinstance(o, asyncio.CancelledError) else o for o in outcomes]
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
                raise outcome  # KeyboardInterrupt, cancellation: not a request's own failure
        failed = [o for o in outcomes if isinstance(o, Exception)]
        if not failed:
            return list(outcomes)
        if len(outcomes) == 1:
            raise failed[0]
        raise PartialBatch(list(outcomes), f"{failed[0]} ({len(failed)} of {len(outcomes)} requests failed)")

    async def with_retries(self, path: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """``attempt`` until it succeeds, fails for good or runs out of retries (module docstring)."""
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
            raise self.error(f"{path}: malformed response: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - retryable kinds after the last attempt
            if not _retryable(exc):
                raise
            failure = f"{path} failed after {tries} attempt(s): {_describe(exc)}"
            if await self._healthy():  # the server answers: this request was unlucky, not the server dead
                raise self.error(failure, ServerFailed, reason=f"its server failed ({_reason(exc)})") from None
            down = self.error(f"no answer from the server: {failure}; its health check failed too",
                              ServerUnreachable)
            self._down = str(down)
            raise down from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _healthy(self) -> bool:
        """``GET /models`` answers 200: one check at a time, and a request that waited while
        another ran uses that verdict instead of checking again."""
        if self._health is None:
            self._health = asyncio.Lock()
        seen = self._checks
        async with self._health:
            if self._checks != seen:
                return self._healthy_last
            try:  # a connection of its own: the pool may be full of requests that hang
                async with httpx.AsyncClient(base_url=self.settings.base_url, headers=_auth(self._key),
                                             timeout=min(self.settings.timeout_s, 10.0), verify=_tls()) as check:
                    self._healthy_last = (await check.get("/models")).status_code == 200
            except (httpx.HTTPError, asyncio.TimeoutError):
                self._healthy_last = False
            self._checks += 1
            return self._healthy_last

    def check(self, response: httpx.Response, path: str) -> None:
        """Nothing for a 200; a retryable failure for 408, 429 and 5xx; else a ``StatusError``."""
        if response.status_code == 200:
            return
        detail = _detail(response)
        what = f"HTTP {response.status_code}" + (f": {detail}" if detail else "")
        if response.status_code in RETRY_STATUS:
            raise _Retryable(what, parse_retry_after(response.headers.get("retry-after")))
        raise self.error(f"{path} answered {what}", StatusError)

    def check_back(self) -> None:
        """After the server stopped answering, one ``GET /models`` before a new batch: if it
        answers, requests are sent again."""
        if self._down is not None:
            try:
                probe_server(self.settings, name=self.name, api_key=self._key)
            except SpecError:
                return
            self._down = None

    async def post_json(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``body``; the answer's JSON object (``ProtocolError`` when it is not one)."""
        response = await self.http().post(path, json=body)
        self.check(response, path)
        data = response.json()
        if not isinstance(data, dict):
            raise ProtocolError("response is not a JSON object")
        return data
