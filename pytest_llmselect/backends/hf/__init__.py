"""Local transformers models (zoo, directory and hub candidates): the only package of
pytest_llmselect that imports torch. Its modules, one job each:

* ``loading``: weights into memory (source, ``from_pretrained``, ``ModelInfo``);
* ``device``: device and dtype choice, synchronisation, padding, out-of-memory errors;
* ``memory``: bytes held and peak memory over a stretch of work;
* ``prompts``: generation requests to prompt ids (chat templates, truncation);
* ``generation``: one batch through ``model.generate`` and where each row ends;
* ``sampling``: a sampled row drawn from its own seeded stream, whatever shares its batch;
* ``scoring``: log-likelihood of continuations (lm-eval's rules);
* ``backend``: ``HFBackend``, which composes them behind the backend protocol.

The names other code uses are re-exported here.
"""

from __future__ import annotations

from pytest_llmselect.backends.hf.backend import HFBackend
from pytest_llmselect.backends.hf.device import resolve_device, resolve_dtype, synchronize
from pytest_llmselect.backends.hf.loading import import_model_class
from pytest_llmselect.backends.hf.memory import (
    current_memory,
    read_peak_memory,
    release_freed_memory,
    reset_peak_memory,
)

__all__ = [
    "HFBackend",
    "current_memory",
    "import_model_class",
    "read_peak_memory",
    "release_freed_memory",
    "reset_peak_memory",
    "resolve_device",
    "resolve_dtype",
    "synchronize",
]
