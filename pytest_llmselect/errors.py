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


class CapabilityError(BackendError):
    """The candidate cannot do what a request asks (a server without prompt log-probabilities, a
    model without a chat template). Raised before any of the request's work is sent; a test that
    hits it fails with this one line instead of a traceback."""


class RequestFailedError(BackendError):
    """A request of this case could not run (a served model's request failed after its retries,
    a tokenizer error); the group's other results stand. The case fails with this one line:
    the traceback would only show the plugin's own frames."""


class ServerFailed(RequestFailedError):
    """A served model's request got no usable answer after every retry: HTTP 5xx or 429, a
    time-out, a dropped connection, or the run was interrupted before the server answered. An
    outage is not the model's quality: the case is not run (never scored at the worst value),
    and ``reason`` says why in a few words for the report's "not run" line."""

    def __init__(self, message: str, reason: str = "no answer from its server") -> None:
        super().__init__(message)
        self.reason = reason

    def __reduce__(self) -> tuple:  # keep ``reason`` across pickling (xdist workers)
        return (type(self), (str(self), self.reason))


class ServerUnreachable(ServerFailed):
    """The server is down: a request failed after every retry and a health check of the server
    failed too. No more requests are sent until a check finds it answering again."""


class Interrupted(ServerFailed):
    """The run was interrupted (Ctrl-C) while this request was waiting for its answer; the
    request was cancelled, nothing of it is kept, and a rerun sends it again."""


class OutOfMemory(BackendError):
    """A batch did not fit in device memory; the session splits it and retries."""


class PartialBatch(BackendError):
    """Some requests of a batch failed on their own while the others finished (a served model
    answers each request separately). ``outcomes`` holds, in request order, each request's
    result or the exception it ended with. The session keeps the finished results and their
    measured time, fails only the failed requests' cases, and sends nothing again: on a paid
    API a re-sent request is paid twice. The message is the first failure's, with the count."""

    def __init__(self, outcomes: list, message: str) -> None:
        super().__init__(message)
        self.outcomes = outcomes


class MissingDependency(LLMSelectError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""


class LoadFailed(BackendError):
    """A candidate could not be loaded; the message is one line. Its cases are not run."""


class JudgeError(LLMSelectError, ValueError):
    """A judge model's answer could not be read as a grade (no score in range, no yes/no), or the
    judge failed to run. The graded case is errored with this one line, never given a score."""
