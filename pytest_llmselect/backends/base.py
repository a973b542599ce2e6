"""The small protocol every model backend implements, and its request/result values.

Backends receive whole lists of requests so they can batch; the session gathers a
(task, candidate) group's requests and hands them over in one call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence, runtime_checkable


@dataclass(frozen=True)
class GenerateRequest:
    """Greedy generation of up to ``max_new_tokens`` tokens, cut at the first stop string."""

    prompt: str
    max_new_tokens: int = 32
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.prompt, str):
            raise TypeError(f"prompt must be str, got {self.prompt!r} of type {type(self.prompt).__name__}")
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be a positive int, got {self.max_new_tokens!r}")
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))
        else:
            object.__setattr__(self, "stop", tuple(self.stop))


@dataclass(frozen=True)
class LoglikelihoodRequest:
    """Log-probability of ``continuation`` following ``context``."""

    context: str
    continuation: str

    def __post_init__(self) -> None:
        for name in ("context", "continuation"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise TypeError(f"{name} must be str, got {value!r} of type {type(value).__name__}")
        if not self.continuation:
            raise ValueError("continuation must be a non-empty string")


@dataclass(frozen=True)
class GenerateResult:
    text: str
    input_tokens: int
    output_tokens: int
    # Seconds from the start of the batch's forward pass to its first new token;
    # shared by every request of one batch (they get their first token together).
    first_token_seconds: float | None = None


@dataclass(frozen=True)
class LoglikelihoodResult:
    logprob: float          # summed over the continuation's tokens
    num_tokens: int         # continuation tokens scored
    num_chars: int          # characters in the continuation
    is_greedy: bool         # every continuation token was the argmax
    input_tokens: int = 0   # context + continuation tokens fed to the model

    @property
    def logprob_per_token(self) -> float:
        return self.logprob / max(self.num_tokens, 1)

    @property
    def logprob_per_char(self) -> float:
        return self.logprob / max(self.num_chars, 1)


@dataclass(frozen=True)
class ModelInfo:
    name: str
    num_parameters: int
    device: str
    dtype: str
    extra: dict = field(default_factory=dict, compare=False)


@runtime_checkable
class Backend(Protocol):
    """What the session needs from a loaded model."""

    info: ModelInfo

    def generate(self, requests: Sequence[GenerateRequest], batch_size: int = 16) -> list[GenerateResult]:
        """Results in the order of ``requests``."""

    def loglikelihood(
        self, requests: Sequence[LoglikelihoodRequest], batch_size: int = 16
    ) -> list[LoglikelihoodResult]:
        """Results in the order of ``requests``."""

    def close(self) -> None:
        """Drop every reference to the model and free device memory."""
