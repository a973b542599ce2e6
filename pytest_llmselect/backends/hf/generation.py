"""Generation of one batch of prompts with ``model.generate`` (greedy, or each sampled row from its
own seeded stream: ``sampling.py``), and where each row ends.

* A result does not depend on its batch: prompts are left-padded with an attention mask and
  ``generate`` derives position ids from it (transformers >= 4.45, 5.x). Identity is exact up
  to float noise from padded kernels, which flips an argmax only on a near-tie (seen in bf16,
  not in float32).
* ``output_tokens``: new tokens up to and including the one that ended the request: the first
  after which the decoded new text contains a stop string, else the EOS token, else
  ``max_new_tokens``. Steps run while the rest of the batch finished are not counted. The text
  excludes the stop string and special tokens.
* ``first_token_seconds``: from just before ``model.generate`` to the first stopping-criteria
  call, i.e. after the prefill pass picked the batch's first token (device synchronised at
  both ends).
"""

from __future__ import annotations

import time
from typing import Any, Callable

import torch
from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

from pytest_llmselect.backends.base import GenerateRequest, GenerateResult
from pytest_llmselect.backends.hf.device import out_of_memory_as, pad, synchronize
from pytest_llmselect.backends.hf.sampling import SeededSampler, wants_sampling

__all__ = ["finish_row", "generate_batch"]


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


def finish_row(new_ids: list[int], max_new_tokens: int, stops: tuple[str, ...], eos_ids: set[int],
               hit_step: int | None, decode: Callable[[list[int]], str]) -> tuple[str, int]:
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


def generate_batch(model: Any, tokenizer: Any, prompts: list[list[int]], requests: list[GenerateRequest], *,
                   pad_id: int, eos_ids: set[int], device: torch.device, name: str) -> list[GenerateResult]:
    """Continuations of one batch of prompt ids, in order; ``OutOfMemory`` names the batch size."""
    input_ids, attention_mask = pad(prompts, pad_id, device, left=True)
    width = input_ids.shape[1]
    stops = [tuple(s for s in r.stop if s) for r in requests]
    max_new = [r.max_new_tokens for r in requests]
    stopper = _BatchStopper(tokenizer, width, max_new, stops, eos_ids, device)
    config = GenerationConfig(
        max_new_tokens=max(max_new),
        do_sample=False,
        num_beams=1,
        pad_token_id=pad_id,
        eos_token_id=sorted(eos_ids) or None,
    )
    sampling: dict[str, Any] = {}
    if wants_sampling(requests):  # each sampled row from its request's own seeded stream
        sampling["logits_processor"] = LogitsProcessorList([SeededSampler(
            [r.seed or 0 for r in requests], [r.temperature for r in requests], [r.top_p for r in requests])])
    synchronize(device)
    started = time.perf_counter()
    with out_of_memory_as(f"out of memory generating {name!r} at batch size {len(prompts)}"):
        out = model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            generation_config=config,
            stopping_criteria=StoppingCriteriaList([stopper]),
            **sampling,
        )
    first_token = None if stopper.first_token_at is None else stopper.first_token_at - started
    new_rows = out[:, width:].tolist()

    def decode(ids: list[int]) -> str:
        return tokenizer.decode(ids, skip_special_tokens=True)

    results = []
    for row, (ids, req) in enumerate(zip(new_rows, requests)):
        text, n_out = finish_row(ids, req.max_new_tokens, stops[row], eos_ids, stopper.hit_step[row], decode)
        results.append(GenerateResult(text=text, input_tokens=len(prompts[row]), output_tokens=n_out,
                                      first_token_seconds=first_token))
    return results
