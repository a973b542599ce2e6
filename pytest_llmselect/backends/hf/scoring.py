"""Log-likelihood of continuations under a transformers model, as lm-eval scores them.

* The context's trailing whitespace moves to the continuation; context + continuation is
  encoded once and split at the context's token boundary (encoded apart if a token straddles
  it); BOS leads only if the tokenizer adds it to plain text. An empty context is conditioned
  on BOS (EOS when there is none).
* ``num_tokens``: scored continuation tokens; ``num_chars``: characters of the continuation as
  given; ``input_tokens``: tokens fed to the model (all but the last, which is only a target).
* Over the position limit the context loses tokens from the left.
* Left-padded with explicit position ids so only the last logits are computed (right-padded for
  a model that takes no position ids); log-softmax in float32.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from pytest_llmselect.backends.base import LoglikelihoodRequest
from pytest_llmselect.backends.hf.device import out_of_memory_as, pad
from pytest_llmselect.backends.tokens import continuation_ids, split_request
from pytest_llmselect.errors import BackendError

__all__ = ["encode_pairs", "score_batch"]


def encode_pairs(tokenizer: Any, requests: Sequence[LoglikelihoodRequest], *, prefix: list[int],
                 empty_context: list[int], max_positions: int | None, name: str
                 ) -> tuple[list[list[int]], list[list[int]], list[int]]:
    """Per request: the ids fed to the model, the continuation ids scored (lm-eval's split)
    and how many context tokens were dropped to fit the context window."""
    pairs = [split_request(req.context, req.continuation) for req in requests]
    contexts = [c for c, _ in pairs]
    continuations = [x for _, x in pairs]
    no_special = {"add_special_tokens": False}
    ctx_enc = tokenizer(contexts, **no_special)["input_ids"]
    whole_enc = tokenizer([c + x for c, x in zip(contexts, continuations)], **no_special)["input_ids"]
    cont_enc = tokenizer(continuations, **no_special)["input_ids"]
    inputs, targets, dropped = [], [], []
    for req, ctx, whole, apart in zip(requests, ctx_enc, whole_enc, cont_enc):
        cont = continuation_ids(ctx, whole, apart)
        ctx = (prefix + list(ctx)) if ctx else list(empty_context)
        if not ctx or not cont:
            what = "no BOS or EOS token for an empty context" if not ctx else f"no tokens for {req.continuation!r}"
            raise BackendError(f"cannot score with model {name!r}: {what}")
        seq = ctx + cont
        if max_positions is not None and len(cont) > max_positions:
            raise BackendError(
                f"continuation of {len(cont)} tokens exceeds the position limit {max_positions} "
                f"of model {name!r}"
            )
        keep = len(seq) if max_positions is None else max_positions + 1
        dropped.append(max(0, len(seq) - keep))
        seq = seq[-keep:]  # the context loses tokens from the left
        inputs.append(seq[:-1])  # the last token is only a target, never an input
        targets.append(cont)
    return inputs, targets, dropped


def score_batch(model: Any, inputs: list[list[int]], targets: list[list[int]], *, pad_id: int,
                device: torch.device, position_ids: bool, logits_to_keep: bool, name: str
                ) -> list[tuple[float, bool]]:
    """(summed log-probability, greedy) of each row's targets after its inputs, in order;
    ``position_ids``/``logits_to_keep``: whether the model's forward takes them."""
    keep = max(len(t) for t in targets)
    # Left padding puts every continuation at the end, so only the last ``keep`` logits are needed; it
    # needs explicit position ids, so a model that takes none is right-padded instead.
    left = position_ids
    input_ids, attention_mask = pad(inputs, pad_id, device, left=left)
    kwargs: dict[str, Any] = {}
    if left:
        kwargs["position_ids"] = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        if logits_to_keep:
            kwargs["logits_to_keep"] = keep
    with out_of_memory_as(f"out of memory scoring {name!r} at batch size {len(inputs)}"):
        logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False, **kwargs).logits
    # Row i's continuation is predicted by the ``len(targets[i])`` positions ending where its input ends.
    ends = [logits.shape[1] if left else len(x) for x in inputs]
    offsets = torch.arange(keep, device=device) - keep
    index = (torch.tensor(ends, device=device)[:, None] + offsets).clamp(min=0)
    picked = logits.gather(1, index[:, :, None].expand(-1, -1, logits.shape[-1])).float()
    logprobs = torch.log_softmax(picked, dim=-1)
    target = torch.tensor([[0] * (keep - len(t)) + t for t in targets], device=device)
    valid = torch.tensor([[False] * (keep - len(t)) + [True] * len(t) for t in targets], device=device)
    token_lp = logprobs.gather(-1, target[:, :, None]).squeeze(-1)
    total = torch.where(valid, token_lp, torch.zeros_like(token_lp)).sum(-1)
    greedy = ((logprobs.argmax(-1) == target) | ~valid).all(-1)
    return list(zip(total.tolist(), greedy.tolist()))
