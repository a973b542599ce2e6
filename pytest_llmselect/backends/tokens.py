"""How a log-likelihood request becomes tokens, shared by the local backends (transformers and
vLLM), as lm-eval does it. Plain token-id lists: no torch here."""

from __future__ import annotations

from typing import Sequence

__all__ = ["continuation_ids", "split_request"]


def split_request(context: str, continuation: str) -> tuple[str, str]:
    """(context, continuation) with the context's trailing whitespace moved to the continuation:
    BPE vocabularies carry the space on the following word (" Paris"), not on the context."""
    stripped = context.rstrip()
    return stripped, context[len(stripped):] + continuation


def continuation_ids(context: Sequence[int], whole: Sequence[int], apart: Sequence[int]) -> list[int]:
    """The continuation's token ids: ``whole`` (context + continuation encoded at once) split at the
    context's token boundary, or ``apart`` (the continuation encoded alone) when a token of
    ``whole`` straddles that boundary."""
    context, whole = list(context), list(whole)
    if len(whole) > len(context) and whole[: len(context)] == context:
        return whole[len(context):]
    return list(apart)
