"""``HFBackend``: a local transformers causal LM behind the backend protocol. It holds the model,
its tokenizer and the facts about them that every request needs (position limit, EOS, padding,
BOS), orders requests into batches, and leaves each step to its module: ``loading``,
``prompts``, ``generation`` and ``scoring``."""

from __future__ import annotations

import dataclasses
import gc
import inspect
from typing import Any, Sequence

import torch

from pytest_llmselect.backends.base import (
    GenerateRequest,
    GenerateResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    ModelInfo,
)
from pytest_llmselect.backends.hf.generation import generate_batch
from pytest_llmselect.backends.hf.loading import load_model
from pytest_llmselect.backends.hf.prompts import encode_prompts, fit_prompts
from pytest_llmselect.backends.hf.scoring import encode_pairs, score_batch
from pytest_llmselect.errors import BackendError

__all__ = ["HFBackend"]


class HFBackend:
    """A causal LM loaded with ``AutoModelForCausalLM``; the rules are in the modules named above."""

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
        model, tokenizer, info = load_model(name_or_path, display_name=display_name, device=device, dtype=dtype,
                                            revision=revision, trust_remote_code=trust_remote_code)
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

    @torch.inference_mode()
    def generate(self, requests: Sequence[GenerateRequest], batch_size: int = 16) -> list[GenerateResult]:
        """Greedy continuations, in the order of ``requests``."""
        model, tokenizer = self._require()
        _check_batch_size(batch_size)
        if not requests:
            return []
        encoded = encode_prompts(tokenizer, requests, self.info.name)
        prompts, dropped = fit_prompts(encoded, requests, empty_context=self._empty_context,
                                       max_positions=self.max_positions, name=self.info.name)
        # Largest budget and longest prompt first: the first batch is the most memory-hungry (an
        # out-of-memory shows at once), and similar rows share a batch, which keeps padding low.
        order = sorted(range(len(requests)), key=lambda i: (-requests[i].max_new_tokens, -len(prompts[i])))
        results: list[GenerateResult | None] = [None] * len(requests)
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            batch = generate_batch(model, tokenizer, [prompts[i] for i in rows], [requests[i] for i in rows],
                                   pad_id=self._pad_id, eos_ids=self._eos_ids, device=self.device,
                                   name=self.info.name)
            for i, res in zip(rows, batch):
                results[i] = dataclasses.replace(res, truncated_tokens=dropped[i]) if dropped[i] else res
        return results  # type: ignore[return-value]

    @torch.inference_mode()
    def loglikelihood(
        self, requests: Sequence[LoglikelihoodRequest], batch_size: int = 16
    ) -> list[LoglikelihoodResult]:
        """Summed log-probability of each continuation given its context, in the order of ``requests``."""
        model, tokenizer = self._require()
        _check_batch_size(batch_size)
        if not requests:
            return []
        inputs, targets, dropped = encode_pairs(tokenizer, requests, prefix=self._prefix,
                                                empty_context=self._empty_context,
                                                max_positions=self.max_positions, name=self.info.name)
        order = sorted(range(len(requests)), key=lambda i: -len(inputs[i]))
        results: list[LoglikelihoodResult | None] = [None] * len(requests)
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            scored = score_batch(model, [inputs[i] for i in rows], [targets[i] for i in rows], pad_id=self._pad_id,
                                 device=self.device, position_ids=self._accepts_position_ids,
                                 logits_to_keep=self._accepts_logits_to_keep, name=self.info.name)
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


def _check_batch_size(batch_size: int) -> None:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise BackendError(f"batch_size must be a positive int, got {batch_size!r}")
