"""Real HTTP servers on loopback for the served-model tests.

* ``transformers_serve(model_dir)``: the real ``transformers serve`` CLI in a subprocess on a
  free port, waited on until ``/health`` answers, always stopped (terminate, then kill).
* ``FaultProxy``: a Starlette app on uvicorn (in a thread) in front of an upstream server, or
  answering a fixed completion itself; it injects scripted faults (a status with an optional
  ``Retry-After``, a stall longer than the client's timeout), checks the ``Authorization``
  header, and records every attempt and the most requests it saw in flight at once.
* ``LogprobServer``: a small OpenAI-compatible ``/v1/completions`` of our own that wraps a
  transformers model and returns prompt log-probabilities as vLLM does (``echo`` with
  ``logprobs``, or ``prompt_logprobs``), because ``transformers serve`` does not.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import httpx


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_command(model_dir: str | Path, port: int) -> list[str]:
    # The CLI through this interpreter: a console script's shebang may point at another venv.
    launcher = "import sys; from transformers.cli.transformers import main; sys.argv[0] = 'transformers'; sys.exit(main())"
    return [sys.executable, "-c", launcher, "serve", str(model_dir), "--host", "127.0.0.1", "--port", str(port),
            "--device", "cpu", "--dtype", "float32"]


@contextlib.contextmanager
def transformers_serve(model_dir: str | Path, *, log: Path, startup_s: float = 180.0) -> Iterator[str]:
    """Run ``transformers serve MODEL_DIR`` (model pinned, offline) and yield its base URL ``.../v1``."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(serve_command(model_dir, port), stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + startup_s
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"transformers serve exited with {proc.returncode}: "
                                       f"{log.read_text(errors='replace')[-2000:]}")
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"transformers serve did not become healthy in {startup_s:.0f} s")
                time.sleep(0.25)
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)


class _ThreadServer:
    """A Starlette app served by uvicorn on a thread, on a free loopback port."""

    def __init__(self, app: Any, *, tls: tuple[Path, Path] | None = None) -> None:
        import uvicorn

        self.port = free_port()
        self.scheme = "https" if tls else "http"
        ssl = {"ssl_certfile": str(tls[0]), "ssl_keyfile": str(tls[1])} if tls else {}
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                     lifespan="off", **ssl))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> "_ThreadServer":
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)


@dataclass
class Attempt:
    path: str
    body: dict[str, Any]
    authorization: str | None
    action: str


@dataclass
class FaultProxy:
    """Faults by request number: ``script`` is consumed one action per request to a completions
    endpoint: ``"pass"``, ``"status:CODE"``, ``"status:CODE:RETRY_AFTER"``, ``"stall:SECONDS"``.
    After the script runs out, every request passes. ``upstream``: base URL to forward to
    (without it, a fixed completion ``"ok"`` is answered). ``delay_s``: added before passing,
    so requests overlap measurably. ``require_key``: answer 401 unless ``Bearer KEY`` is sent.
    ``reject_prompt``: a completion request whose prompt contains this text is always answered
    400 with an error message repeating the ``Authorization`` header sent (careless servers do)."""

    upstream: str | None = None
    script: list[str] = field(default_factory=list)
    delay_s: float = 0.0
    require_key: str | None = None
    reject_prompt: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0

    def app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse, Response, StreamingResponse
        from starlette.routing import Route

        client = httpx.AsyncClient(timeout=120)

        async def models(request: Request) -> Response:
            if not self._authorized(request):
                return JSONResponse({"error": {"message": "bad key " + str(request.headers.get("authorization"))}},
                                    status_code=401)
            if self.upstream:
                up = await client.get(f"{self.upstream}/models")
                return Response(up.content, status_code=up.status_code, media_type="application/json")
            return JSONResponse({"object": "list", "data": [{"id": "canned", "object": "model", "owned_by": "test"}]})

        async def complete(request: Request) -> Response:
            body = await request.json()
            action = self.script.pop(0) if self.script else "pass"
            self.attempts.append(Attempt(request.url.path, body, request.headers.get("authorization"), action))
            if not self._authorized(request):
                # Echo what was sent, as some servers do: the client must keep it out of its errors.
                return JSONResponse({"error": {"message": f"invalid key {request.headers.get('authorization')}"}},
                                    status_code=401)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                if action.startswith("status:"):
                    parts = action.split(":")
                    headers = {"Retry-After": parts[2]} if len(parts) > 2 else {}
                    return JSONResponse({"error": {"message": f"injected {parts[1]}"}}, status_code=int(parts[1]),
                                        headers=headers)
                if self.reject_prompt and self.reject_prompt in str(body.get("prompt", body.get("messages"))):
                    return JSONResponse({"error": {"message": f"rejected request from {request.headers.get('authorization')}"}},
                                        status_code=400)
                if action.startswith("stall:"):
                    await asyncio.sleep(float(action.split(":")[1]))
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                if not self.upstream:
                    canned = _canned(body, request.url.path)
                    if body.get("stream"):
                        return Response(_as_stream(canned, request.url.path), media_type="text/event-stream")
                    return JSONResponse(canned)
                up_req = client.build_request("POST", f"{self.upstream}{request.url.path[3:]}", json=body)
                up = await client.send(up_req, stream=True)
                if not body.get("stream"):
                    content = await up.aread()
                    await up.aclose()
                    return Response(content, status_code=up.status_code, media_type="application/json")
                return StreamingResponse(up.aiter_raw(), status_code=up.status_code,
                                         media_type="text/event-stream", background=_closer(up))
            finally:
                self.in_flight -= 1

        return Starlette(routes=[Route("/v1/models", models), Route("/v1/completions", complete, methods=["POST"]),
                                 Route("/v1/chat/completions", complete, methods=["POST"])])

    def _authorized(self, request: Any) -> bool:
        return self.require_key is None or request.headers.get("authorization") == f"Bearer {self.require_key}"

    def serve(self, *, tls: tuple[Path, Path] | None = None) -> _ThreadServer:
        """Serve on a free loopback port; ``tls`` = (certificate, key) files serves https."""
        return _ThreadServer(self.app(), tls=tls)


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the ``openssl`` command line), as (cert, key) files."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def _closer(response: httpx.Response) -> Any:
    from starlette.background import BackgroundTask

    return BackgroundTask(response.aclose)


def _canned(body: dict[str, Any], path: str) -> dict[str, Any]:
    usage = {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
    if path.endswith("chat/completions"):
        return {"object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                                                          "finish_reason": "stop"}], "usage": usage}
    return {"object": "text_completion", "choices": [{"index": 0, "text": "ok", "finish_reason": "stop"}],
            "usage": usage}


def _as_stream(canned: dict[str, Any], path: str) -> str:
    """The canned answer as server-sent events: one chunk of text, then a chunk with the usage."""
    import json

    chat = path.endswith("chat/completions")
    text = canned["choices"][0]["message"]["content"] if chat else canned["choices"][0]["text"]
    piece = {"index": 0, "delta": {"content": text}} if chat else {"index": 0, "text": text}
    chunks = [{"choices": [piece]}, {"choices": [], "usage": canned["usage"]}]
    return "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"


class LogprobServer:
    """``/v1/completions`` with prompt log-probabilities from a transformers model, as vLLM answers
    ``echo: true, logprobs: N`` (``mode="echo"``) or ``prompt_logprobs: N`` (``mode="prompt_logprobs"``)."""

    def __init__(self, model_dir: str | Path, mode: str = "echo") -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.mode = mode
        self.requests = 0

    def score(self, prompt: str) -> tuple[list[int], list[float | None], list[tuple[int, float] | None], int]:
        """Prompt ids, each token's log-probability, the most likely (id, log-probability) at each
        position, and the next token's id."""
        torch = self.torch
        ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = self.model(torch.tensor([ids])).logits[0].float()
        logprobs = torch.log_softmax(logits, dim=-1)
        values: list[float | None] = [None]
        best: list[tuple[int, float] | None] = [None]
        for i in range(1, len(ids)):
            values.append(float(logprobs[i - 1, ids[i]]))
            top = int(logprobs[i - 1].argmax())
            best.append((top, float(logprobs[i - 1, top])))
        return ids, values, best, int(logprobs[-1].argmax())

    def app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse, Response
        from starlette.routing import Route

        async def models(request: Request) -> Response:
            return JSONResponse({"object": "list", "data": [{"id": "scorer", "object": "model", "owned_by": "us"}]})

        async def complete(request: Request) -> Response:
            body = await request.json()
            self.requests += 1
            wants = "echo" if body.get("echo") and body.get("logprobs") is not None else (
                "prompt_logprobs" if body.get("prompt_logprobs") is not None else None)
            if wants is not None and wants != self.mode:
                return JSONResponse({"error": {"message": f"{wants} is not supported"}}, status_code=400)
            ids, values, best, nxt = self.score(body["prompt"])
            decode = self.tokenizer.decode
            choice: dict[str, Any] = {"index": 0, "text": decode([nxt]), "finish_reason": "length"}
            if wants == "echo":
                texts = [decode([i]) for i in ids] + [decode([nxt])]
                offsets, pos = [], 0
                for t in texts:
                    offsets.append(pos)
                    pos += len(t)
                choice["text"] = body["prompt"] + decode([nxt])
                choice["logprobs"] = {
                    "tokens": texts, "token_logprobs": values + [0.0], "text_offset": offsets,
                    "top_logprobs": [None] + [{decode([b[0]]): b[1]} for b in best[1:] if b is not None] + [None],
                }
            elif wants == "prompt_logprobs":
                entries: list[Any] = [None]
                for i in range(1, len(ids)):
                    rank = 1 if best[i] is not None and best[i][0] == ids[i] else 2
                    entries.append({str(ids[i]): {"logprob": values[i], "rank": rank, "decoded_token": decode([ids[i]])}})
                choice["prompt_logprobs"] = entries
            usage = {"prompt_tokens": len(ids), "completion_tokens": 1, "total_tokens": len(ids) + 1}
            return JSONResponse({"object": "text_completion", "choices": [choice], "usage": usage})

        return Starlette(routes=[Route("/v1/models", models), Route("/v1/completions", complete, methods=["POST"])])

    def serve(self) -> _ThreadServer:
        return _ThreadServer(self.app())
