"""Getting a transformers model into memory: where its weights are (a hub id or a
``save_pretrained`` directory), ``from_pretrained`` onto the chosen device and dtype, and
what the report and the response cache record about it (``ModelInfo``).

Every failure here is one ``BackendError`` line naming the model.
"""

from __future__ import annotations

import importlib.util
import os
import time
from typing import Any

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

from pytest_llmselect.backends.base import ModelInfo
from pytest_llmselect.backends.hf.device import resolve_device, resolve_dtype, synchronize
from pytest_llmselect.errors import BackendError

__all__ = ["check_source", "import_model_class", "load_model"]

# transformers 4.56 renamed from_pretrained's ``torch_dtype`` to ``dtype``; 5.x warns on the old name.
_DTYPE_KWARG = "dtype" if tuple(int(x) for x in transformers.__version__.split(".")[:2]) >= (4, 56) else "torch_dtype"


def check_source(name_or_path: str) -> str:
    """The path or hub id to hand ``from_pretrained`` (``~`` expanded). A hub id is "name" or
    "owner/name"; anything else is a path, and a missing one is a plain ``BackendError`` instead of
    transformers' repo-id validation error."""
    source = os.path.expanduser(name_or_path)
    looks_local = name_or_path.startswith((".", "/", "~", os.sep)) or name_or_path.count("/") > 1
    looks_local = looks_local or "\\" in name_or_path
    if (looks_local or os.path.exists(source)) and not os.path.isdir(source):
        raise BackendError(f"cannot load model {name_or_path!r}: no model directory at {source}")
    return source


def load_model(
    name_or_path: str,
    *,
    display_name: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    revision: str | None = None,
    trust_remote_code: bool = False,
) -> tuple[Any, Any, ModelInfo]:
    """(model in eval mode, tokenizer padding on the left, its ``ModelInfo``)."""
    if not isinstance(name_or_path, str) or not name_or_path:
        raise BackendError(f"name_or_path must be a non-empty str, got {name_or_path!r}")
    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, torch_device)
    source = check_source(name_or_path)
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
    return model, tokenizer, info


def import_model_class(name_or_path: str, *, revision: str | None = None, trust_remote_code: bool = False) -> None:
    """Import the model's architecture module ahead of a timed load.

    The first model of an architecture pays about a second for importing its modelling
    code; without this, the first candidate's load time would carry that cost and the
    next one's would not. Failures are left to the load itself, which reports them.
    """
    try:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(name_or_path, revision=revision, trust_remote_code=trust_remote_code)
        AutoModelForCausalLM._model_mapping[type(config)]  # the lazy mapping imports on lookup
    except Exception:  # noqa: BLE001 - the real load raises the one-line BackendError
        return
