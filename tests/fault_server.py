"""A fault-injecting OpenAI-compatible server of our own, on loopback, for the tests.

Written on raw asyncio streams (not an ASGI framework) because the faults worth testing live
below HTTP: a connection closed before any answer, a stream cut after its first chunk, a
request held until the client gives up. Every completion request is answered by an *action*:

``ok``                  the answer (``answer(body)``, "ok" by default) with its usage
``status:CODE[:RA]``    an HTTP error CODE, with ``Retry-After: RA`` when given; its message
                        repeats the ``Authorization`` header sent, as careless servers do
``hang``                nothing, until the server stops (the client's time-out fires first)
``drop``                the connection closed without a byte of answer
``midstream``           a streamed answer's headers and first chunk, then the connection closed
``badjson``             200 with a body that is not JSON
``nousage``             200 with an answer but no ``usage``
``null``                200 with the text ``null`` (unstreamed: ``"text": null``)
``huge:CHARS[:TOKENS]`` 200 with CHARS characters of text and ``completion_tokens`` TOKENS
                        (default: the request's ``max_tokens``, as a server lying about it)

Actions come from ``script`` (one per request, in arrival order), then from ``rule(n, body)``
(``n`` counts completion requests from 0), else ``ok``. ``after(n, action)`` builds the rule
of a server that answers ``n`` requests and then does ``action`` to every later one.

Bounded: the server stops by itself after ``max_requests`` completion requests (later ones
are dropped) or ``lifetime_s`` seconds, whichever comes first; ``stop()`` or leaving the
``with`` block stops it too. ``GET /v1/models`` answers a vLLM-shaped model card whose
``created`` is the time of the request, as vLLM's is; ``models_down`` makes it answer 503.

``port``: the port to listen on (0, the default: a free one); a server started again on the
port of one that stopped is the same server to its clients (and to the response cache).

Counters: ``received`` (completion requests read), ``answered`` (full answers written), ``cards``
(model-card requests),
``actions`` (the action of every request, in order), ``in_flight`` and ``max_in_flight``.
``on_answer(count)`` runs on the server's thread after each full answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

Rule = Callable[[int, dict[str, Any]], str]


def after(n: int, action: str) -> Rule:
    """The rule of a server that answers its first ``n`` requests and then does ``action``."""
    return lambda i, body: "ok" if i < n else action


def at_random(fraction: float, action: str, seed: int = 0) -> Rule:
    """``action`` for a seeded random ``fraction`` of requests, ``ok`` for the others."""
    rng = random.Random(seed)
    return lambda i, body: action if rng.random() < fraction else "ok"


def _prompt(body: dict[str, Any]) -> str:
    if "messages" in body:
        return " ".join(str(m.get("content", "")) for m in body.get("messages") or [] if isinstance(m, dict))
    return str(body.get("prompt", ""))


@dataclass
class FaultServer:
    script: list[str] = field(default_factory=list)
    rule: Rule | None = None
    answer: Callable[[dict[str, Any]], str] = lambda body: "ok"
    model: str = "canned"
    models_down: bool = False
    delay_s: float = 0.0
    max_requests: int = 10_000
    lifetime_s: float = 120.0
    on_answer: Callable[[int], None] | None = None
    received: int = 0
    answered: int = 0
    cards: int = 0  # GET /v1/models answered (each load of a served candidate asks once)
    in_flight: int = 0
    max_in_flight: int = 0
    actions: list[str] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0

    # ---- lifecycle ----------------------------------------------------------------------------

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name="fault-server", daemon=True)
        self._ready = threading.Event()
        self._stopped: asyncio.Event | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.stopped_by: str | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> "FaultServer":
        self._thread.start()
        if not self._ready.wait(30) or not self.port:
            raise RuntimeError("fault server did not start")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self, why: str = "stopped") -> None:
        if self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop already closed
                self._loop.call_soon_threadsafe(self._halt, why)
            self._thread.join(timeout=30)

    def _halt(self, why: str) -> None:
        if self._stopped is not None and not self._stopped.is_set():
            self.stopped_by = self.stopped_by or why
            self._stopped.set()

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stopped = asyncio.Event()
        server = await asyncio.start_server(self._connection, "127.0.0.1", self.port)  # 0: a free port
        self.port = server.sockets[0].getsockname()[1]
        timer = self._loop.call_later(self.lifetime_s, self._halt, "lifetime")
        self._ready.set()
        try:
            await self._stopped.wait()
        finally:
            timer.cancel()
            server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            # Aborted connections and woken hangs end their handlers: wait for them, never cancel
            # (a cancelled handler task is logged by asyncio's streams as an error).
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            if pending:
                await asyncio.wait(pending, timeout=10)
            await server.wait_closed()

    # ---- HTTP/1.1 -----------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while not self._stopped.is_set():  # type: ignore[union-attr]
                request = await _read_request(reader)
                if request is None:
                    break
                method, path, body, headers = request
                if not await self._route(method, path, body, headers.get("authorization"), writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def _route(self, method: str, path: str, raw: bytes, auth: str | None, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection must be closed."""
        if method == "GET" and path.rstrip("/") == "/v1/models":
            self.cards += 1
            if self.models_down:
                await _send(writer, 503, {"error": {"message": "backend down"}})
            else:
                await _send(writer, 200, self._card())
            return True
        if method != "POST" or path not in ("/v1/completions", "/v1/chat/completions"):
            await _send(writer, 404, {"error": {"message": f"no route {method} {path}"}})
            return True
        n = self.received
        self.received += 1
        if n >= self.max_requests:
            self._halt("max_requests")
            return False
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            await _send(writer, 400, {"error": {"message": "body is not JSON"}})
            return True
        action = self.script.pop(0) if self.script else (self.rule(n, body) if self.rule else "ok")
        self.actions.append(action)
        self.bodies.append(body)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            keep = await self._act(action, body, path.endswith("chat/completions"), writer, auth)
        finally:
            self.in_flight -= 1
        return keep

    async def _act(self, action: str, body: dict[str, Any], chat: bool, writer: asyncio.StreamWriter,
                   auth: str | None = None) -> bool:
        kind, _, arg = action.partition(":")
        if kind == "status":
            code, _, retry_after = arg.partition(":")
            headers = {"Retry-After": retry_after} if retry_after else {}
            # Careless servers echo what they were sent: the client must keep it out of its errors.
            echo = f" for {auth}" if auth else ""
            await _send(writer, int(code), {"error": {"message": f"injected {code}{echo}"}}, headers)
            return True
        if kind == "hang":
            await self._stopped.wait()  # type: ignore[union-attr]
            return False
        if kind == "drop":
            return False
        if kind == "badjson":
            await _send_raw(writer, 200, b"{this is not json", "application/json")
            return True
        text: str | None = self.answer(body)
        completion_tokens = max(1, len(str(text).split()))
        if kind == "huge":
            chars, _, tokens = arg.partition(":")
            text = "x" * int(chars)
            completion_tokens = int(tokens) if tokens else int(body.get("max_tokens") or 16)
        elif kind == "null":
            text = None
        usage = {"prompt_tokens": max(1, len(_prompt(body).split())), "completion_tokens": completion_tokens}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if kind == "nousage":
            usage = None  # type: ignore[assignment]
        if body.get("stream"):
            return await self._stream(writer, text, usage, chat, cut=kind == "midstream")
        choice: dict[str, Any] = ({"index": 0, "message": {"role": "assistant", "content": text}} if chat
                                  else {"index": 0, "text": text})
        choice["finish_reason"] = "stop"
        payload: dict[str, Any] = {"object": "chat.completion" if chat else "text_completion", "model": self.model,
                                   "choices": [choice]}
        if usage is not None:
            payload["usage"] = usage
        if kind == "midstream":  # unstreamed: the body cut halfway
            data = json.dumps(payload).encode()
            head = _head(200, "application/json", {"Content-Length": str(len(data))})
            writer.write(head + data[: len(data) // 2])
            await writer.drain()
            return False
        await _send(writer, 200, payload)
        self._answered()
        return True

    async def _stream(self, writer: asyncio.StreamWriter, text: str | None, usage: dict[str, int] | None,
                      chat: bool, cut: bool) -> bool:
        writer.write(_head(200, "text/event-stream", {"Transfer-Encoding": "chunked"}))
        pieces: list[str | None] = [text] if text is None else ([text[i:i + 4096] for i in range(0, len(text), 4096)]
                                                                or [""])
        events = []
        for piece in pieces:
            choice = {"index": 0, "delta": {"content": piece}} if chat else {"index": 0, "text": piece}
            events.append({"choices": [choice]})
        last = {"index": 0, "delta": {}, "finish_reason": "stop"} if chat else {"index": 0, "text": "",
                                                                                 "finish_reason": "stop"}
        events.append({"choices": [last]})
        if usage is not None:
            events.append({"choices": [], "usage": usage})
        for i, event in enumerate(events):
            _chunk(writer, f"data: {json.dumps(event)}\n\n".encode())
            await writer.drain()
            if cut and i == 0:
                return False
        _chunk(writer, b"data: [DONE]\n\n")
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        self._answered()
        return True

    def _answered(self) -> None:
        self.answered += 1
        if self.on_answer is not None:
            self.on_answer(self.answered)

    def _card(self) -> dict[str, Any]:
        now = int(time.time())
        return {"object": "list", "data": [{
            "id": self.model, "object": "model", "created": now, "owned_by": "vllm", "root": f"/models/{self.model}",
            "parent": None, "max_model_len": 2048,
            "permission": [{"id": f"modelperm-{random.getrandbits(64):016x}", "object": "model_permission",
                            "created": now, "allow_sampling": True, "organization": "*"}]}]}


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, bytes, dict[str, str]] | None:
    line = await reader.readline()
    if not line:
        return None
    method, target, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        h = await reader.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        name, _, value = h.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    return method, target.split("?", 1)[0], body, headers


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 413: "Payload Too Large", 422: "Unprocessable Entity",
            429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
            504: "Gateway Timeout"}


def _head(code: int, content_type: str, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {code} {_REASONS.get(code, 'Status')}", f"Content-Type: {content_type}", "Server: fault-server",
             *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")


async def _send(writer: asyncio.StreamWriter, code: int, payload: Any, headers: dict[str, str] | None = None) -> None:
    await _send_raw(writer, code, json.dumps(payload).encode(), "application/json", headers)


async def _send_raw(writer: asyncio.StreamWriter, code: int, data: bytes, content_type: str,
                    headers: dict[str, str] | None = None) -> None:
    writer.write(_head(code, content_type, {**(headers or {}), "Content-Length": str(len(data))}) + data)
    await writer.drain()
