"""Semantic similarity: the cosine of two texts' all-MiniLM-L6-v2 sentence embeddings, the
packaged model the demonstration strategies use (``demos.embed``), offline.

Each distinct text is embedded once per process (kept in memory); a batch call
(``semantic_similarities``) embeds all its unseen texts in one model call and keeps them in
the embedding disk cache too, so a repeated run embeds nothing. The score is the cosine,
clipped to [-1, 1] against rounding; higher is more similar. With several references the
best one counts, as ``token_f1`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_llmselect.errors import SpecError

__all__ = ["SemanticScorer", "semantic_similarities", "semantic_similarity"]


def _references(reference: object, fn: str) -> list[str]:
    if isinstance(reference, str):
        return [reference]
    if isinstance(reference, Sequence) and reference and all(isinstance(r, str) for r in reference):
        return list(reference)
    raise SpecError(f"{fn}: `reference` must be a str or a non-empty sequence of str, "
                    f"got {reference!r} ({type(reference).__name__})")


def _output(output: object, fn: str) -> str:
    if not isinstance(output, str):
        raise SpecError(f"{fn}: `output` must be a str, got {output!r} ({type(output).__name__})")
    return output


class SemanticScorer:
    """Cosine similarity of sentence embeddings, with every text embedded at most once."""

    def __init__(self, embedder: Any = None) -> None:
        if embedder is None:
            from pytest_llmselect.demos.embed import Embedder

            embedder = Embedder()
        self.embedder = embedder
        self._vectors: dict[str, Any] = {}

    @property
    def identity(self) -> str:
        return str(self.embedder.identity)

    def _embed(self, texts: Sequence[str], *, disk: bool) -> None:
        unseen = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if not unseen:
            return
        # A single case's one or two texts skip the disk cache: a file per case would cost more
        # than the model call it saves.
        vectors = self.embedder.encode(unseen) if disk else self.embedder.encode_uncached(unseen)
        for text, vec in zip(unseen, vectors):
            self._vectors[text] = vec

    def similarities(self, outputs: Sequence[str], references: Sequence[str | Sequence[str]]) -> list[float]:
        fn = "semantic_similarities"
        if isinstance(outputs, str) or isinstance(references, str):
            raise SpecError(f"{fn}: `outputs` and `references` must be sequences, one item per case")
        outs = [_output(o, fn) for o in outputs]
        refs = [_references(r, fn) for r in references]
        if len(outs) != len(refs):
            raise SpecError(f"{fn}: {len(outs)} outputs but {len(refs)} references")
        self._embed(outs + [r for rs in refs for r in rs], disk=len(outs) > 1)
        return [max(self._cosine(o, r) for r in rs) for o, rs in zip(outs, refs)]

    def _cosine(self, a: str, b: str) -> float:
        value = float(self._vectors[a] @ self._vectors[b])  # unit vectors: the dot is the cosine
        return max(-1.0, min(1.0, value))


_default: SemanticScorer | None = None


def default_scorer() -> SemanticScorer:
    global _default
    if _default is None:
        _default = SemanticScorer()
    return _default


def semantic_similarity(output: str, reference: str | Sequence[str]) -> float:
    """Cosine similarity in [-1, 1] of the all-MiniLM-L6-v2 embeddings of ``output`` and
    ``reference`` (the best of several references)."""
    return default_scorer().similarities([_output(output, "semantic_similarity")],
                                         [_references(reference, "semantic_similarity")])[0]


def semantic_similarities(outputs: Sequence[str], references: Sequence[str | Sequence[str]]) -> list[float]:
    """``semantic_similarity`` of many (output, reference) pairs, embedded in one batch."""
    return default_scorer().similarities(outputs, references)
