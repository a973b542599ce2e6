"""One exception base class for everything this package raises on purpose."""

from __future__ import annotations


class LLMSelectError(Exception):
    """Base class of pytest-llmselect's own errors."""


class SpecError(LLMSelectError, ValueError):
    """A candidate spec, candidates file or option value is invalid."""


class DataError(LLMSelectError, ValueError):
    """A data file (suite JSONL, run report) is malformed; the message names file and line."""


class BackendError(LLMSelectError, RuntimeError):
    """A model could not be loaded or run."""


class MissingDependency(LLMSelectError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""
