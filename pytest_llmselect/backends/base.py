"""The small protocol every model backend implements, and its request/result values.

Backends receive whole lists of requests so they can batch; the session gathers a
(task, candidate) group's requests and hands them over in one call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable


ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Message:
    """One chat turn: ``role`` is "system", "user" or "assistant"; ``content`` is its text."""

    role: str
    content: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"message role must be one of {', '.join(ROLES)}, got {self.role!r}")
        if not isinstance(self.content, str):
            raise TypeError(
                f"message content must be str, got {self.content!r} of type {type(self.content).__name__}"
            )

    @classmethod
    def coerce(cls, value: Any) -> "Message":
        """A ``Message`` from itself or from a mapping with ``role`` and ``content`` (OpenAI's shape)."""
        if isinstance(value, Message):
            return value
        if isinstance(value, Mapping):
            extra = set(value) - {"role", "content"}
            if extra or "role" not in value or "content" not in value:
                raise ValueError(f"a chat message needs exactly the keys 'role' and 'content', got {dict(value)!r}")
            return cls(value["role"], value["content"])
        raise TypeError(f"a chat message must be a Message or a {{'role', 'content'}} dict, got {value!r}")

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


SAMPLING_DEFAULTS = {"temperature": 0.0, "top_p": 1.0, "seed": None}


def check_sampling(temperature: object, top_p: object, seed: object) -> None:
    """``temperature`` >= 0 (0: greedy), 0 < ``top_p`` <= 1, ``seed`` None or an int >= 0."""
    import math

    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
            or not math.isfinite(temperature) or temperature < 0:
        raise ValueError(f"temperature must be a number >= 0, got {temperature!r}")
    if isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0 < top_p <= 1:
        raise ValueError(f"top_p must be a number in (0, 1], got {top_p!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ValueError(f"seed must be None or an int >= 0, got {seed!r}")


@dataclass(frozen=True)
class GenerateRequest:
    """Generation of up to ``max_new_tokens`` tokens, cut at the first stop string: greedy, or
    sampled when ``temperature > 0`` (with nucleus ``top_p``, from its own random stream seeded
    with ``seed``, so one request gives one text whatever else shares its batch).

    Either a raw ``prompt`` or chat ``messages`` (a sequence of :class:`Message` or
    ``{"role", "content"}`` dicts, kept as a tuple of ``Message``); a local model renders
    messages with its tokenizer's chat template, a served one sends them to chat completions.
    """

    prompt: str = ""
    max_new_tokens: int = 32
    stop: tuple[str, ...] = ()
    messages: tuple[Message, ...] | None = None
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None

    def __post_init__(self) -> None:
        check_sampling(self.temperature, self.top_p, self.seed)
        if not isinstance(self.prompt, str):
            raise TypeError(f"prompt must be str, got {self.prompt!r} of type {type(self.prompt).__name__}")
        if isinstance(self.max_new_tokens, bool) or not isinstance(self.max_new_tokens, int) \
                or self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be a positive int, got {self.max_new_tokens!r}")
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))
        else:
            object.__setattr__(self, "stop", tuple(self.stop))
        for s in self.stop:
            if not isinstance(s, str):
                raise TypeError(f"stop strings must be str, got {s!r} of type {type(s).__name__}")
        if self.messages is not None:
            if isinstance(self.messages, (str, bytes, Mapping)):
                raise TypeError(f"messages must be a sequence of chat messages, got {self.messages!r}")
            messages = tuple(Message.coerce(m) for m in self.messages)
            if not messages:
                raise ValueError("messages must not be empty (pass a prompt for a raw completion)")
            if self.prompt:
                raise ValueError("give a prompt or messages, not both")
            object.__setattr__(self, "messages", messages)

    @classmethod
    def chat(cls, messages: Sequence[Any], max_new_tokens: int = 32, stop: str | Sequence[str] = (),
             **sampling: Any) -> "GenerateRequest":
        """A chat request: ``GenerateRequest.chat([{"role": "user", "content": "2+2="}], max_new_tokens=4)``;
        ``sampling``: ``temperature``, ``top_p``, ``seed``."""
        return cls("", max_new_tokens, tuple([stop] if isinstance(stop, str) else stop), tuple(messages), **sampling)

    @property
    def sampled(self) -> bool:
        return self.temperature > 0

    @property
    def is_chat(self) -> bool:
        return self.messages is not None


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
    # A served model measures it per request (streamed), from sending the request.
    first_token_seconds: float | None = None
    # Seconds this request took on its own (a served model's request round trip, retries
    # included); None for a local batch, whose latency is the batch's wall time.
    latency_seconds: float | None = None
    # Prompt tokens dropped from the left to fit the model's context window (0: none).
    truncated_tokens: int = 0
    # Why the answer was cut to what the request's max_new_tokens allows (``bounds.bound_answer``:
    # a server answered more than asked); None when it was not.
    cut: str | None = None


@dataclass(frozen=True)
class LoglikelihoodResult:
    logprob: float          # summed over the continuation's tokens
    num_tokens: int         # continuation tokens scored
    num_chars: int          # characters in the continuation
    is_greedy: bool         # every continuation token was the argmax
    input_tokens: int = 0   # context + continuation tokens fed to the model
    latency_seconds: float | None = None  # as GenerateResult.latency_seconds
    truncated_tokens: int = 0  # context tokens dropped from the left to fit the context window

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
