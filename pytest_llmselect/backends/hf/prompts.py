"""How a generation request becomes prompt token ids for a transformers model.

* A raw prompt is encoded as the tokenizer encodes it. Chat ``messages`` are rendered with the
  tokenizer's chat template, generation prompt added (as ``transformers serve`` and other
  OpenAI-compatible servers do), then encoded without adding special tokens again; a tokenizer
  without a template is a ``CapabilityError`` before anything runs.
* An empty prompt is conditioned on BOS (EOS when there is none).
* Over the position limit (``n_positions`` / ``max_position_embeddings``) a prompt loses tokens
  from the left and keeps ``limit - max_new_tokens``.
"""

from __future__ import annotations

from typing import Any, Sequence

from pytest_llmselect.backends.base import GenerateRequest
from pytest_llmselect.errors import BackendError, CapabilityError

__all__ = ["encode_prompts", "fit_prompts"]


def encode_prompts(tokenizer: Any, requests: Sequence[GenerateRequest], name: str) -> list[list[int]]:
    """Token ids per request, raw prompts and chat messages alike (see the module docstring)."""
    chats = [r for r in requests if r.messages is not None]
    if chats and not getattr(tokenizer, "chat_template", None):
        raise CapabilityError(
            f"model {name!r} has no chat template, so it cannot take chat messages: send a raw "
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
            raise BackendError(f"model {name!r}: its chat template rejected the messages: {first}") from exc
        if not str(text).strip():  # scoring the model on nothing would read as its quality
            raise CapabilityError(f"model {name!r}: its chat template renders these messages as an empty prompt; "
                                  "fix the template (tokenizer.chat_template) or send a raw prompt")
        out[i] = list(tokenizer(text, add_special_tokens=False)["input_ids"])
    return out


def fit_prompts(encoded: Sequence[Sequence[int]], requests: Sequence[GenerateRequest], *,
                empty_context: list[int], max_positions: int | None, name: str) -> tuple[list[list[int]], list[int]]:
    """(prompt ids, tokens dropped from the left) per request: empty prompts started with
    ``empty_context``, long ones cut to leave room for ``max_new_tokens``."""
    prompts: list[list[int]] = []
    dropped: list[int] = []
    for req, ids in zip(requests, encoded):
        ids = list(ids) or list(empty_context)
        if not ids:
            raise BackendError(f"model {name!r} has no BOS or EOS token to start an empty prompt with")
        if max_positions is not None:
            room = max_positions - req.max_new_tokens
            if room < 1:
                raise BackendError(
                    f"max_new_tokens={req.max_new_tokens} leaves no room for a prompt in model "
                    f"{name!r}, whose position limit is {max_positions}"
                )
            dropped.append(max(0, len(ids) - room))
            ids = ids[-room:]
        else:
            dropped.append(0)
        prompts.append(ids)
    return prompts, dropped
