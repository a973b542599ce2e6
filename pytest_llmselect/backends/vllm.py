"""In-process vLLM (``vllm.LLM``) for ``vllm:MODEL`` candidates: a directory or hub id run by vLLM's
engine on this machine's GPU(s), where vLLM is installed (it is not a dependency of this package).

Same rules as the transformers backend where vLLM allows:

* Greedy generation (``temperature`` 0), ``max_tokens`` = ``max_new_tokens``, stop strings
  (vLLM leaves them out of the text); chat ``messages`` are rendered with the tokenizer's chat
  template, generation prompt added (no template: ``BackendError`` before anything runs).
* Token counts are vLLM's own: prompt token ids and generated token ids per request.
* ``first_token_seconds`` from vLLM's request metrics when it keeps them, else None.
* Log-likelihood from ``prompt_logprobs``: context + continuation is encoded once and split at
  the context's token boundary (encoded apart if a token straddles it), the context's trailing
  whitespace moved to the continuation, as in the transformers backend and lm-eval.
* One GPU per engine (``tensor_parallel_size=1`` unless ``load`` is told otherwise). For tensor
  or pipeline parallelism and several nodes, run ``vllm serve`` and use an ``openai:``
  candidate (README, "When one machine is not enough").
"""

from __future__ import annotations

import gc
import time
from typing import Any, Sequence

import vllm

from pytest_llmselect.backends.base import (
    GenerateRequest,
    GenerateResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    ModelInfo,
)
from pytest_llmselect.backends.tokens import continuation_ids, split_request
from pytest_llmselect.errors import BackendError, CapabilityError

__all__ = ["VLLMBackend"]


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


class VLLMBackend:
    """A model run in-process by ``vllm.LLM``; see the module docstring."""

    def __init__(self, llm: Any, info: ModelInfo) -> None:
        self._llm: Any = llm
        self._tokenizer: Any = llm.get_tokenizer()
        self.info = info

    @classmethod
    def load(cls, source: str, *, display_name: str, dtype: str | None = None,
             tensor_parallel_size: int = 1) -> "VLLMBackend":
        start = time.perf_counter()
        try:
            llm = vllm.LLM(model=source, dtype=dtype or "auto", tensor_parallel_size=tensor_parallel_size, seed=0)
        except Exception as exc:  # noqa: BLE001 - vLLM raises many types; the user needs one line
            raise BackendError(f"cannot load model {source!r} with vLLM: {_one_line(exc)}") from exc
        config = llm.llm_engine.model_config
        info = ModelInfo(
            name=display_name, num_parameters=None,  # type: ignore[arg-type] - vLLM does not expose a count
            device="cuda", dtype=str(getattr(config, "dtype", "auto")).removeprefix("torch."),
            extra={"load_seconds": time.perf_counter() - start, "source": source,
                   "identity": {"engine": "vllm", "vllm": vllm.__version__, "model": source,
                                "revision": getattr(config, "revision", None)}},
        )
        return cls(llm, info)

    def _require(self) -> Any:
        if self._llm is None:
            raise BackendError(f"model {self.info.name!r} was closed")
        return self._llm

    def close(self) -> None:
        """Drop the engine and free GPU memory; later calls raise ``BackendError``."""
        self._llm = None
        self._tokenizer = None
        try:  # vLLM keeps process-wide parallel state; a second engine in this process needs it gone
            from vllm.distributed.parallel_state import destroy_distributed_environment, destroy_model_parallel

            destroy_model_parallel()
            destroy_distributed_environment()
        except Exception:  # noqa: BLE001 - older/newer vLLM: best effort
            pass
        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    # ---- generation -------------------------------------------------------------------------

    def _prompt(self, req: GenerateRequest) -> str:
        if req.messages is None:
            return req.prompt
        if not getattr(self._tokenizer, "chat_template", None):
            raise CapabilityError(f"model {self.info.name!r} has no chat template, so it cannot take chat messages")
        return self._tokenizer.apply_chat_template([m.to_dict() for m in req.messages], tokenize=False,
                                                   add_generation_prompt=True)

    def generate(self, requests: Sequence[GenerateRequest], batch_size: int = 16) -> list[GenerateResult]:
        """Greedy continuations, in the order of ``requests`` (vLLM schedules its own batches)."""
        llm = self._require()
        if not requests:
            return []
        prompts = [self._prompt(r) for r in requests]
        params = [vllm.SamplingParams(temperature=0.0, max_tokens=r.max_new_tokens, stop=list(r.stop) or None)
                  for r in requests]
        outputs = llm.generate(prompts, params, use_tqdm=False)
        results = []
        for out in outputs:
            gen = out.outputs[0]
            metrics = getattr(out, "metrics", None)
            first = getattr(metrics, "first_token_time", None)
            arrival = getattr(metrics, "arrival_time", None)
            ttft = first - arrival if isinstance(first, float) and isinstance(arrival, float) else None
            results.append(GenerateResult(text=gen.text, input_tokens=len(out.prompt_token_ids or []),
                                          output_tokens=len(gen.token_ids), first_token_seconds=ttft))
        return results

    # ---- log-likelihood -----------------------------------------------------------------------

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest], batch_size: int = 16
                      ) -> list[LoglikelihoodResult]:
        """Summed log-probability of each continuation given its context, from vLLM's prompt_logprobs."""
        llm = self._require()
        if not requests:
            return []
        from vllm.inputs import TokensPrompt

        tok = self._tokenizer
        inputs, targets = [], []
        for req in requests:
            context, continuation = split_request(req.context, req.continuation)
            ctx = tok(context, add_special_tokens=False)["input_ids"]
            whole = tok(context + continuation, add_special_tokens=False)["input_ids"]
            cont = continuation_ids(ctx, whole, tok(continuation, add_special_tokens=False)["input_ids"])
            bos = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
            ctx = list(ctx) or ([bos] if bos is not None else [])
            if not ctx or not cont:
                raise BackendError(f"cannot score {req.continuation!r} with model {self.info.name!r}: empty tokens")
            inputs.append(TokensPrompt(prompt_token_ids=list(ctx) + list(cont)))
            targets.append(list(cont))
        params = vllm.SamplingParams(temperature=0.0, max_tokens=1, prompt_logprobs=1)
        outputs = llm.generate(inputs, params, use_tqdm=False)
        results = []
        for req, out, cont, prompt in zip(requests, outputs, targets, inputs):
            ids = prompt["prompt_token_ids"]
            table = out.prompt_logprobs
            total, greedy = 0.0, True
            for pos in range(len(ids) - len(cont), len(ids)):
                entry = table[pos][ids[pos]]
                total += float(entry.logprob)
                greedy = greedy and entry.rank == 1
            results.append(LoglikelihoodResult(logprob=total, num_tokens=len(cont), num_chars=len(req.continuation),
                                               is_greedy=greedy, input_tokens=len(ids) - 1))
        return results
