"""pytest-llmselect: evaluation suites as pytest tests, and a measured choice of language model.

Importing this package is cheap: torch and transformers load only when a model does.
"""

from __future__ import annotations

__version__ = "0.1.0"

from pytest_llmselect.backends.base import (
    GenerateRequest,
    Message,
    GenerateResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
)
from pytest_llmselect.data import case_ids, load_jsonl
from pytest_llmselect.errors import (
    BackendError,
    CapabilityError,
    DataError,
    JudgeError,
    LLMSelectError,
    MissingDependency,
    SpecError,
)
from pytest_llmselect.metrics import choice_accuracy, contains, exact_match, mentions, semantic_similarity, token_f1

__all__ = [
    "BackendError",
    "CapabilityError",
    "DataError",
    "GenerateRequest",
    "Message",
    "GenerateResult",
    "JudgeError",
    "LLMSelectError",
    "LoglikelihoodRequest",
    "LoglikelihoodResult",
    "MissingDependency",
    "SpecError",
    "__version__",
    "case_ids",
    "choice_accuracy",
    "choice_requests",
    "contains",
    "exact_match",
    "load_jsonl",
    "load_run",
    "semantic_similarity",
    "mentions",
    "token_f1",
]


def __getattr__(name: str):
    # Lazy: these pull in pytest / pandas, which a plain `import pytest_llmselect` should not.
    if name == "choice_requests":
        from pytest_llmselect.fixtures import choice_requests

        return choice_requests
    if name == "load_run":
        from pytest_llmselect.runs import load_run

        return load_run
    raise AttributeError(f"module 'pytest_llmselect' has no attribute {name!r}")
