"""Local transformers models: the only module of the package that imports torch.

Rules the session, cost module and reports rely on:

* Chat requests (``messages``) are rendered with the tokenizer's chat template, generation
  prompt added; a tokenizer without one is a ``BackendError`` before anything runs.
* Greedy generation, batched; a result does not depend on its batch: prompts are
  left-padded with an attention mask and ``generate`` derives position ids from it
  (transformers >= 4.45, 5.x).  Identity is exact up to float noise from padded
  kernels, which flips an argmax only on a near-tie (seen in bf16, not in float32).
* ``output_tokens``: new tokens up to and including the one that ended the request:
  the first after which the decoded new text contains a stop string, else the EOS
  token, else ``max_new_tokens``.  Steps run while the rest of the batch finished
  are not counted.  The text excludes the stop string and special tokens.
* ``first_token_seconds``: from just before ``model.generate`` to the first
  stopping-criteria call, i.e. after the prefill pass picked the batch's first token
  (device synchronised at both ends).
* Over the position limit (``n_positions`` / ``max_position_embeddings``) prompts and
  contexts lose tokens from the left; a prompt keeps ``limit - max_new_tokens``.
  An empty prompt or context is conditioned on BOS (EOS when there is none).
* Loglikelihood as lm-eval: the context's trailing whitespace moves to the
  continuation; context + continuation is encoded once and split at the context's
  token boundary (encoded apart if a token straddles it); BOS leads only if the
  tokenizer adds it to plain text.  ``num_tokens``: scored continuation tokens;
  ``num_chars``: characters of the continuation as given; ``input_tokens``: tokens fed
  to the model (all but the last, which is only a target).  Left-padded with explicit
  position ids so only the last logits are computed; log-softmax in float32.
"""

from __future__ import annotations

import dataclasses
import gc
import importlib.util
import inspect
import os
import sys
import time
from typing import Any, Sequence

import torch
import transformers
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    StoppingCriteria,
    StoppingCriteriaList,
)

from pytest_llmselect.backends.base import (
    GenerateRequest,
    GenerateResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    ModelInfo,
)
from pytest_llmselect.errors import BackendError, CapabilityError, OutOfMemory

__all__ = ["HFBackend", "current_memory", "read_peak_memory", "release_freed_memory", "reset_peak_memory", "resolve_device", "resolve_dtype", "synchronize"]

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
# transformers 4.56 renamed from_pretrained's ``torch_dtype`` to ``dtype``; 5.x warns on the old name.
_DTYPE_KWARG = "dtype" if tuple(int(x) for x in transformers.__version__.split(".")[:2]) >= (4, 56) else "torch_dtype"
_OOM = torch.cuda.OutOfMemoryError


def _is_oom(exc: BaseException) -> bool:
    """CUDA's out-of-memory error, or the CPU allocator's (a RuntimeError naming the allocation)."""
    if isinstance(exc, _OOM):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text.lower())


def resolve_device(device: str | None) -> torch.device:
    """``None`` means CUDA when available, else CPU; an unusable device is a ``BackendError``."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, str):
        raise BackendError(
            f"device must be a str such as 'cpu' or 'cuda:0', got {device!r} of type {type(device).__name__}"
        )
    try:
        resolved = torch.device(device)
    except (RuntimeError, ValueError):
        raise BackendError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise BackendError(f"device {device!r} was requested but CUDA is not available")
    if resolved.type == "cuda" and resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise BackendError(f"device {device!r} does not exist: {torch.cuda.device_count()} CUDA device(s) visible")
    return resolved


def resolve_dtype(dtype: str | None, device: torch.device) -> torch.dtype | str:
    """``None`` means bfloat16 on CUDA and float32 elsewhere; ``"auto"`` defers to the checkpoint."""
    if dtype is None:
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if dtype == "auto":
        return "auto"
    if isinstance(dtype, str) and dtype in _DTYPES:
        return _DTYPES[dtype]
    raise BackendError(f"dtype must be one of 'auto', {', '.join(map(repr, _DTYPES))}, got {dtype!r}")


def synchronize(device: str | torch.device) -> None:
    """Wait for queued device work, so a clock read afterwards means something."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _proc_status_kib(field: str) -> int | None:
    """A ``VmXXX`` line of /proc/self/status in KiB, or None where there is none (not Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def release_freed_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc ``malloc_trim``), so the
    resident set read next does not still hold what an earlier candidate freed."""
    gc.collect()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc (musl): nothing to trim with
            pass


def current_memory(device: str | torch.device) -> int:
    """Bytes held now: CUDA bytes allocated on ``device``, or on CPU the process's resident set."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.memory_allocated(device))
    rss = _proc_status_kib("VmRSS")
    if rss is not None:
        return rss * 1024
    import psutil

    return int(psutil.Process().memory_info().rss)


def reset_peak_memory(device: str | torch.device) -> bool:
    """Start a new peak-memory window; True when the peak can be reset here.

    CUDA: ``torch.cuda.reset_peak_memory_stats``. CPU on Linux: writing ``5`` to
    ``/proc/self/clear_refs`` resets the resident-set high-water mark ``VmHWM``
    (Linux >= 4.0, proc(5)). Elsewhere False: the CPU peak cannot be reset.
    """
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return True
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:
        return False
    return _proc_status_kib("VmHWM") is not None


def read_peak_memory(device: str | torch.device) -> int:
    """Peak memory in bytes since the last ``reset_peak_memory``: CUDA bytes allocated, or on
    CPU the resident-set high-water mark (``VmHWM`` on Linux; elsewhere the process-life peak,
    which cannot be reset)."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    hwm = _proc_status_kib("VmHWM")
    if hwm is not None:
        return hwm * 1024
    try:
        import resource
    except ImportError:  # Windows
        import psutil

        mem = psutil.Process().memory_info()
        return int(getattr(mem, "peak_wset", mem.rss))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # macOS reports bytes, Linux KiB


class _BatchStopper(StoppingCriteria):
    """Per-row stopping for one batch: each row's own ``max_new_tokens`` and stop strings.

    Also clocks the first token.  Each step decodes, in one batched call, only the
    last few new tokens of the rows still watched (enough tokens to spell the longest
    stop string even at four bytes a character), so the cost per step does not grow
    with the output; a hit there is confirmed on the row's whole new text, making
    ``hit_step`` the first step at which that text contains a stop string.  Only new
    tokens are decoded: a stop string straddling prompt and output does not fire
    (transformers' ``stop_strings=`` matches across the prompt too).
    """

    def __init__(self, tokenizer: Any, width: int, max_new: list[int], stops: list[tuple[str, ...]],
                 eos_ids: set[int], device: torch.device) -> None:
        self.tokenizer, self.width, self.max_new, self.stops, self.eos_ids = tokenizer, width, max_new, stops, eos_ids
        self.device = device
        self.row_max = torch.tensor(max_new, device=device)
        self.stopped = torch.zeros(len(max_new), dtype=torch.bool, device=device)
        self.watching = [i for i, s in enumerate(stops) if s]
        self.window = 4 * max((len(s) for row in stops for s in row), default=0) + 8
        self.hit_step: list[int | None] = [None] * len(max_new)
        self.first_token_at: float | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        if self.first_token_at is None:
            synchronize(self.device)
            self.first_token_at = time.perf_counter()
        step = input_ids.shape[1] - self.width
        if self.watching:
            rows = self.watching
            tails = input_ids[rows, max(self.width, input_ids.shape[1] - self.window):].tolist()
            texts = self.tokenizer.batch_decode(tails, skip_special_tokens=True)
            still, hits = [], []
            for row, tail, text in zip(rows, tails, texts):
                if any(s in text for s in self.stops[row]) and self._confirm(row, input_ids):
                    self.hit_step[row] = step
                    hits.append(row)
                elif step < self.max_new[row] and not self.eos_ids.intersection(tail[-1:]):
                    still.append(row)
            self.watching = still
            if hits:
                self.stopped[hits] = True
        return self.stopped | (self.row_max <= step)

    def _confirm(self, row: int, input_ids: torch.Tensor) -> bool:
        text = self.tokenizer.decode(input_ids[row, self.width:].tolist(), skip_special_tokens=True)
        return any(s in text for s in self.stops[row])


def _finish(new_ids: list[int], max_new_tokens: int, stops: tuple[str, ...], eos_ids: set[int],
            hit_step: int | None, decode: Any) -> tuple[str, int]:
    """(text, output_tokens) of one row from its generated ids; see the module docstring for the rule."""
    ids = new_ids[:max_new_tokens]
    end = len(ids)
    for j, tok in enumerate(ids):
        if tok in eos_ids:
            end = j + 1
            break
    if hit_step is not None and hit_step <= end:
        end = hit_step
    text = decode(ids[:end])
    cuts = [i for i in (text.find(s) for s in stops) if i >= 0]
    return (text[: min(cuts)] if cuts else text), end


class HFBackend:
    """A causal LM loaded with ``AutoModelForCausalLM``; see the module docstring."""

    def __init__(self, model: Any, tokenizer: Any, info: ModelInfo) -> None:
        self._model: Any = model
        self._tokenizer: Any = tokenizer
        self.info = info
        self.device = next(model.parameters()).device
        config = model.config
        limit = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)
        self.max_positions: int | None = int(limit) if isinstance(limit, int) and limit > 0 else None
        params = inspect.signature(model.forward).parameters
        self._accepts_position_ids = "position_ids" in params
        self._accepts_logits_to_keep = "logits_to_keep" in params
        eos = model.generation_config.eos_token_id
        if eos is None:
            eos = tokenizer.eos_token_id
        self._eos_ids: set[int] = set() if eos is None else ({eos} if isinstance(eos, int) else set(eos))
        pad = tokenizer.pad_token_id
        self._pad_id: int = pad if pad is not None else min(self._eos_ids, default=0)
        # Mirror what the tokenizer does to a prompt: if it prepends BOS there, score contexts after BOS too.
        bos = tokenizer.bos_token_id
        probe = tokenizer("a")["input_ids"]
        self._prefix: list[int] = [bos] if bos is not None and probe and probe[0] == bos else []
        starter = bos if bos is not None else tokenizer.eos_token_id
        self._empty_context: list[int] = self._prefix or ([starter] if starter is not None else [])

    @classmethod
    def load(
        cls,
        name_or_path: str,
        *,
        display_name: str | None = None,
        device: str | None = None,
        dtype: str | None = None,
        revision: str | None = None,
        trust_remote_code: bool = False,
    ) -> HFBackend:
        """Load a hub id or a ``save_pretrained`` directory; failures are one-line ``BackendError``s."""
        if not isinstance(name_or_path, str) or not name_or_path:
            raise BackendError(f"name_or_path must be a non-empty str, got {name_or_path!r}")
        torch_device = resolve_device(device)
        torch_dtype = resolve_dtype(dtype, torch_device)
        source = os.path.expanduser(name_or_path)
        # A hub id is "name" or "owner/name"; anything else is a path, and a missing one gets a plain message
        # instead of transformers' repo-id validation error.
        looks_local = name_or_path.startswith((".", "/", "~", os.sep)) or name_or_path.count("/") > 1
        looks_local = looks_local or "\\" in name_or_path
        if (looks_local or os.path.exists(source)) and not os.path.isdir(source):
            raise BackendError(f"cannot load model {name_or_path!r}: no model directory at {source}")
        start = time.perf_counter()
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, revision=revision, trust_remote_code=trust_remote_code)
            if not tokenizer("Hello, 42")["input_ids"]:
                # transformers falls back to an empty vocabulary when the tokenizer files are
                # missing: every prompt would become nothing and every answer empty.
                raise BackendError(f"cannot load model {name_or_path!r}: its tokenizer is empty (the directory "
                                   "has no tokenizer files: save them with tokenizer.save_pretrained)")
            placement: dict[str, Any] = {_DTYPE_KWARG: torch_dtype}
            if torch_device.type == "cuda" and importlib.util.find_spec("accelerate") is not None:
                placement["device_map"] = str(torch_device)  # straight onto the GPU, no CPU copy first
            model = AutoModelForCausalLM.from_pretrained(
                source, revision=revision, trust_remote_code=trust_remote_code, **placement
            )
            model.to(torch_device)
        except BackendError:
            raise
        except Exception as exc:  # noqa: BLE001 - transformers raises many types; the user needs one line
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise BackendError(f"cannot load model {name_or_path!r}: {type(exc).__name__}: {first_line}") from exc
        model.eval()
        if tokenizer.pad_token is None and tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"
        synchronize(torch_device)
        load_seconds = time.perf_counter() - start
        first = next(model.parameters())
        # The candidate's own weights, whatever else the process holds: parameters and buffers.
        parameter_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
        buffer_bytes = sum(b.numel() * b.element_size() for b in model.buffers())
        info = ModelInfo(
            name=display_name or name_or_path,
            num_parameters=sum(p.numel() for p in model.parameters()),
            device=str(first.device),
            dtype=str(first.dtype).removeprefix("torch."),
            # What the response cache keys a hub model on (a local directory is hashed instead).
            extra={"load_seconds": load_seconds, "source": name_or_path, "backend": "hf",
                   "commit": getattr(model.config, "_commit_hash", None),
                   "implementation": f"transformers {transformers.__version__}, torch {torch.__version__}",
                   "parameter_bytes": parameter_bytes, "buffer_bytes": buffer_bytes},
        )
        return cls(model, tokenizer, info)

    def _require(self) -> tuple[Any, Any]:
        if self._model is None:
            raise BackendError(f"model {self.info.name!r} was closed")
        return self._model, self._tokenizer

    def close(self) -> None:
        """Drop the model and tokenizer and free device memory; later calls raise ``BackendError``."""
        self._model = None
        self._tokenizer = None
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    # -- generation ---------------------------------------------------------------------------

    @torch.inference_mode()
    def generate(self, requests: Sequence[GenerateRequest], batch_size: int = 16) -> list[GenerateResult]:
        """Greedy continuations, in the order of ``requests``."""
        model, tokenizer = self._require()
        _check_batch_size(batch_size)
        if not requests:
            return []
        encoded = self._encode_prompts(tokenizer, requests)
        prompts: list[list[int]] = []
        dropped: list[int] = []
        for req, ids in zip(requests, encoded):
            ids = list(ids) or list(self._empty_context)
            if not ids:
                raise BackendError(f"model {self.info.name!r} has no BOS or EOS token to start an empty prompt with")
            if self.max_positions is not None:
                room = self.max_positions - req.max_new_tokens
                if room < 1:
                    raise BackendError(
                        f"max_new_tokens={req.max_new_tokens} leaves no room for a prompt in model "
                        f"{self.info.name!r}, whose position limit is {self.max_positions}"
                    )
                dropped.append(max(0, len(ids) - room))
                ids = ids[-room:]
            else:
                dropped.append(0)
            prompts.append(ids)
        # Largest budget and longest prompt first: the first batch is the most memory-hungry (an
        # out-of-memory shows at once), and similar rows share a batch, which keeps padding low.
        order = sorted(range(len(requests)), key=lambda i: (-requests[i].max_new_tokens, -len(prompts[i])))
        results: list[GenerateResult | None] = [None] * len(requests)
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            batch = self._generate_batch(model, tokenizer, [prompts[i] for i in rows], [requests[i] for i in rows])
            for i, res in zip(rows, batch):
                results[i] = dataclasses.replace(res, truncated_tokens=dropped[i]) if dropped[i] else res
        return results  # type: ignore[return-value]

    def _encode_prompts(self, tokenizer: Any, requests: Sequence[GenerateRequest]) -> list[list[int]]:
        """Token ids per request: a raw prompt as the tokenizer encodes it; chat messages rendered by
        the tokenizer's chat template with the generation prompt added (as ``transformers serve``
        and other OpenAI-compatible servers do), then encoded without adding special tokens again."""
        chats = [r for r in requests if r.messages is not None]
        if chats and not getattr(tokenizer, "chat_template", None):
            raise CapabilityError(
                f"model {self.info.name!r} has no chat template, so it cannot take chat messages: send a raw "
                "prompt, or set tokenizer.chat_template and save it with the model"
            )
        raw = [i for i, r in enumerate(requests) if r.messages is None]
        out: list[list[int]] = [[] for _ in requests]
        if raw:
            for i, ids in zip(raw, tokenizer([requests[i].prompt for i in raw])["input_ids"]):
                out[i] = list(ids)
        for i, req in enumerate(requests):
            if req.messages is None:
                continue
            try:
                text = tokenizer.apply_chat_template([m.to_dict() for m in req.messages], tokenize=False,
                                                     add_generation_prompt=True)
            except Exception as exc:  # noqa: BLE001 - a template may raise anything (jinja errors, raise_exception)
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise BackendError(f"model {self.info.name!r}: its chat template rejected the messages: {first}") from exc
            out[i] = list(tokenizer(text, add_special_tokens=False)["input_ids"])
        return out

    def _generate_batch(self, model: Any, tokenizer: Any, prompts: list[list[int]],
                        requests: list[GenerateRequest]) -> list[GenerateResult]:
        input_ids, attention_mask = _pad(prompts, self._pad_id, self.device, left=True)
        width = input_ids.shape[1]
        stops = [tuple(s for s in r.stop if s) for r in requests]
        max_new = [r.max_new_tokens for r in requests]
        stopper = _BatchStopper(tokenizer, width, max_new, stops, self._eos_ids, self.device)
        config = GenerationConfig(
            max_new_tokens=max(max_new),
            do_sample=False,
            num_beams=1,
            pad_token_id=self._pad_id,
            eos_token_id=sorted(self._eos_ids) or None,
        )
        synchronize(self.device)
        started = time.perf_counter()
        try:
            out = model.generate(
                input_ids=input_ids,
                attention_mask=attention_mask,
                generation_config=config,
                stopping_criteria=StoppingCriteriaList([stopper]),
            )
        except RuntimeError as exc:
            if not _is_oom(exc):
                raise
            raise OutOfMemory(f"out of memory generating {self.info.name!r} at batch size {len(prompts)}") from exc
        first_token = None if stopper.first_token_at is None else stopper.first_token_at - started
        new_rows = out[:, width:].tolist()

        def decode(ids: list[int]) -> str:
            return tokenizer.decode(ids, skip_special_tokens=True)

        results = []
        for row, (ids, req) in enumerate(zip(new_rows, requests)):
            text, n_out = _finish(ids, req.max_new_tokens, stops[row], self._eos_ids, stopper.hit_step[row], decode)
            results.append(GenerateResult(text=text, input_tokens=len(prompts[row]), output_tokens=n_out,
                                          first_token_seconds=first_token))
        return results

    # -- loglikelihood ------------------------------------------------------------------------

    @torch.inference_mode()
    def loglikelihood(
        self, requests: Sequence[LoglikelihoodRequest], batch_size: int = 16
    ) -> list[LoglikelihoodResult]:
        """Summed log-probability of each continuation given its context, in the order of ``requests``."""
        model, tokenizer = self._require()
        _check_batch_size(batch_size)
        if not requests:
            return []
        inputs, targets, dropped = self._encode_pairs(tokenizer, requests)
        order = sorted(range(len(requests)), key=lambda i: -len(inputs[i]))
        results: list[LoglikelihoodResult | None] = [None] * len(requests)
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            scored = self._score_batch(model, [inputs[i] for i in rows], [targets[i] for i in rows])
            for i, (logprob, greedy) in zip(rows, scored):
                results[i] = LoglikelihoodResult(
                    logprob=logprob,
                    num_tokens=len(targets[i]),
                    num_chars=len(requests[i].continuation),
                    is_greedy=greedy,
                    input_tokens=len(inputs[i]),
                    truncated_tokens=dropped[i],
                )
        return results  # type: ignore[return-value]

    def _encode_pairs(self, tokenizer: Any, requests: Sequence[LoglikelihoodRequest]
                      ) -> tuple[list[list[int]], list[list[int]], list[int]]:
        """Per request: the ids fed to the model, the continuation ids scored (lm-eval's split)
        and how many context tokens were dropped to fit the context window."""
        contexts, continuations = [], []
        for req in requests:
            # Trailing context whitespace belongs to the continuation, as in lm-eval: BPE vocabularies
            # carry the space on the following word (" Paris"), not on the context.
            context = req.context.rstrip()
            contexts.append(context)
            continuations.append(req.context[len(context):] + req.continuation)
        no_special = {"add_special_tokens": False}
        ctx_enc = tokenizer(contexts, **no_special)["input_ids"]
        whole_enc = tokenizer([c + x for c, x in zip(contexts, continuations)], **no_special)["input_ids"]
        cont_enc = tokenizer(continuations, **no_special)["input_ids"]
        inputs, targets, dropped = [], [], []
        for req, ctx, whole, cont in zip(requests, ctx_enc, whole_enc, cont_enc):
            ctx, whole = list(ctx), list(whole)
            if len(whole) > len(ctx) and whole[: len(ctx)] == ctx:
                cont = whole[len(ctx):]  # split at the token boundary of the joint encoding
            else:
                cont = list(cont)  # a token merged across the boundary: encode the two sides apart
            ctx = (self._prefix + ctx) if ctx else list(self._empty_context)
            if not ctx or not cont:
                what = "no BOS or EOS token for an empty context" if not ctx else f"no tokens for {req.continuation!r}"
                raise BackendError(f"cannot score with model {self.info.name!r}: {what}")
            seq = ctx + cont
            if self.max_positions is not None:
                if len(cont) > self.max_positions:
                    raise BackendError(
                        f"continuation of {len(cont)} tokens exceeds the position limit {self.max_positions} "
                        f"of model {self.info.name!r}"
                    )
            keep = len(seq) if self.max_positions is None else self.max_positions + 1
            dropped.append(max(0, len(seq) - keep))
            seq = seq[-keep:]  # the context loses tokens from the left
            inputs.append(seq[:-1])  # the last token is only a target, never an input
            targets.append(cont)
        return inputs, targets, dropped

    def _score_batch(self, model: Any, inputs: list[list[int]], targets: list[list[int]]) -> list[tuple[float, bool]]:
        keep = max(len(t) for t in targets)
        # Left padding puts every continuation at the end, so only the last ``keep`` logits are needed; it
        # needs explicit position ids, so a model that takes none is right-padded instead.
        left = self._accepts_position_ids
        input_ids, attention_mask = _pad(inputs, self._pad_id, self.device, left=left)
        kwargs: dict[str, Any] = {}
        if left:
            kwargs["position_ids"] = (attention_mask.cumsum(-1) - 1).clamp(min=0)
            if self._accepts_logits_to_keep:
                kwargs["logits_to_keep"] = keep
        try:
            logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False, **kwargs).logits
        except RuntimeError as exc:
            if not _is_oom(exc):
                raise
            raise OutOfMemory(f"out of memory scoring {self.info.name!r} at batch size {len(inputs)}") from exc
        # Row i's continuation is predicted by the ``len(targets[i])`` positions ending where its input ends.
        ends = [logits.shape[1] if left else len(x) for x in inputs]
        offsets = torch.arange(keep, device=self.device) - keep
        index = (torch.tensor(ends, device=self.device)[:, None] + offsets).clamp(min=0)
        picked = logits.gather(1, index[:, :, None].expand(-1, -1, logits.shape[-1])).float()
        logprobs = torch.log_softmax(picked, dim=-1)
        target = torch.tensor([[0] * (keep - len(t)) + t for t in targets], device=self.device)
        valid = torch.tensor([[False] * (keep - len(t)) + [True] * len(t) for t in targets], device=self.device)
        token_lp = logprobs.gather(-1, target[:, :, None]).squeeze(-1)
        total = torch.where(valid, token_lp, torch.zeros_like(token_lp)).sum(-1)
        greedy = ((logprobs.argmax(-1) == target) | ~valid).all(-1)
        return list(zip(total.tolist(), greedy.tolist()))


def _check_batch_size(batch_size: int) -> None:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise BackendError(f"batch_size must be a positive int, got {batch_size!r}")


def _pad(rows: list[list[int]], pad_id: int, device: torch.device, *, left: bool) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = [([pad_id] * (width - len(r)) + r) if left else (r + [pad_id] * (width - len(r))) for r in rows]
    mask = [([0] * (width - len(r)) + [1] * len(r)) if left else ([1] * len(r) + [0] * (width - len(r))) for r in rows]
    return torch.tensor(ids, device=device), torch.tensor(mask, device=device)


def import_model_class(name_or_path: str, *, revision: str | None = None, trust_remote_code: bool = False) -> None:
    """Import the model's architecture module ahead of a timed load.

    The first model of an architecture pays about a second for importing its modelling
    code; without this, the first candidate's load time would carry that cost and the
    next one's would not. Failures are left to the load itself, which reports them.
    """
    try:
        from transformers import AutoConfig, AutoModelForCausalLM

        config = AutoConfig.from_pretrained(name_or_path, revision=revision, trust_remote_code=trust_remote_code)
        AutoModelForCausalLM._model_mapping[type(config)]  # the lazy mapping imports on lookup
    except Exception:  # noqa: BLE001 - the real load raises the one-line BackendError
        return
