"""The judge model's own lifecycle and its batched, cached, measured grading.

A judge is a candidate-like model (any spec a candidate takes: zoo, local folder, hub id,
served) with a lifecycle of its own: loaded on its first grading, kept for the rest of the
process (so it loads once, whichever candidates come and go), closed with the session. Its
requests go through the response cache like a candidate's, keyed by the judge's identity and
the request, whose rendered prompt holds the template and the graded text. Its work is
measured in its own ``Measures``: evaluation cost, reported apart from the candidates' cost.

No pytest here: the session's model pool composes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pytest_llmselect.engine import Measures, RequestFailed, run_requests
from pytest_llmselect.errors import JudgeError, LLMSelectError
from pytest_llmselect.judge.grading import Grade, grade_requests, read_grade
from pytest_llmselect.judge.prompts import JudgeTemplate

__all__ = ["JudgeRunner"]


def _chat_template(backend: Any) -> bool:
    tokenizer = getattr(backend, "_tokenizer", None)
    return bool(getattr(tokenizer, "chat_template", None))


class JudgeRunner:
    """Grades through one judge model. ``method``: "auto" (log-probabilities from a local judge,
    parsed answers from a served one), "logprobs" or "generate"."""

    def __init__(self, candidate: Any, *, cache: Any = None, batch_size: int = 16, device: str | None = None,
                 dtype: str | None = None, method: str = "auto",
                 loader: Callable[..., Any] | None = None) -> None:
        self.candidate = candidate
        self.cache = cache
        self.batch_size = batch_size
        self.device, self.dtype = device, dtype
        self.requested_method = method
        self._loader = loader
        self._backend: Any = None
        self.load_error: str | None = None
        self.loads = 0
        self.load_seconds = 0.0
        self.source: str | None = None
        self.num_parameters: int | None = None
        self.measures = Measures()
        self.grades = 0
        self.errors = 0
        self._results: dict[Any, Any] = {}

    @property
    def name(self) -> str:
        return str(self.candidate.name)

    def backend(self) -> Any:
        if self._backend is not None:
            return self._backend
        if self.load_error is not None:
            raise JudgeError(f"judge {self.name} failed to load: {self.load_error}")
        from pytest_llmselect.backends import is_local, load_backend, resolve_source

        start = time.perf_counter()
        try:
            self.source = resolve_source(self.candidate) if is_local(self.candidate) else self.candidate.source
            loader = self._loader or load_backend
            self._backend = loader(self.candidate, device=self.device, dtype=self.dtype, source=self.source)
        except Exception as exc:  # noqa: BLE001 - any load failure: one line, remembered, no retry per case
            text = str(exc) if isinstance(exc, LLMSelectError) else f"{type(exc).__name__}: {exc}"
            self.load_error = (text.strip().splitlines() or [type(exc).__name__])[0]
            raise JudgeError(f"judge {self.name} failed to load: {self.load_error}") from None
        self.load_seconds += time.perf_counter() - start
        self.loads += 1
        self.num_parameters = getattr(self._backend.info, "num_parameters", None)
        return self._backend

    def method(self) -> str:
        if self.requested_method != "auto":
            return self.requested_method
        served = getattr(self.candidate, "served", None) is not None
        return "generate" if served else "logprobs"

    def requests_for(self, template: JudgeTemplate, fields: Mapping[str, Any]) -> list[Any]:
        backend = self.backend()
        method = self.method()
        prompt, reqs = grade_requests(template, fields, method)
        if _chat_template(backend):
            from pytest_llmselect.backends.base import GenerateRequest, LoglikelihoodRequest

            if method == "generate":
                return [GenerateRequest.chat([{"role": "user", "content": prompt}], max_new_tokens=8, stop="\n")]
            tokenizer = backend._tokenizer
            context = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                                    add_generation_prompt=True)
            return [LoglikelihoodRequest(context, r.continuation.lstrip()) for r in reqs]
        return reqs

    def grade_many(self, template: JudgeTemplate, fields: Sequence[Mapping[str, Any]], *,
                   count: bool = True) -> list[Grade]:
        """One grade per fields mapping; every judge request of the lot runs in one batched pass
        (cached ones are not run again). A judge that cannot load gives every grade its error."""
        method = self.method()
        try:
            per_item = [self.requests_for(template, f) for f in fields]
        except JudgeError as exc:
            self.errors += len(fields) if count else 0
            return [Grade(None, None, method, error=str(exc)) for _ in fields]
        wanted = [r for reqs in per_item for r in reqs if r not in self._results]
        if wanted:
            self._run(list(dict.fromkeys(wanted)))
        grades = []
        for reqs in per_item:
            results = [self._result(r) for r in reqs]
            grade = read_grade(template, method, results)
            if count:  # a batch run ahead of the cases is not their grades: each case's own call counts
                self.grades += 1
                self.errors += grade.error is not None
            grades.append(grade)
        return grades

    def _result(self, req: Any) -> Any:
        res = self._results[req]
        if isinstance(res, RequestFailed):
            return JudgeError(res.error)
        return res

    def _run(self, requests: list[Any]) -> None:
        backend = self._backend
        hits: Mapping[Any, Any] = {}
        store = None
        if self.cache is not None:
            hits, store = self.cache.lookup(f"judge {self.name}", self.source or self.candidate.source,
                                            backend.info, requests)
        todo = [r for r in requests if r not in hits]
        if hits:
            self.measures.add_cached(list(hits.values()))
            self._results.update({r: h.result for r, h in hits.items()})
        if todo:
            try:
                out = run_requests(backend, todo, batch_size=self.batch_size, measures=self.measures, on_batch=store)
            except Exception as exc:  # noqa: BLE001 - the judge failing costs grades, not the run
                line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                out = {r: RequestFailed(f"{type(exc).__name__}: {line}") for r in todo}
            self._results.update(out)

    def figures(self) -> dict[str, Any]:
        m = self.measures
        return {"judge": self.name, "source": self.source or self.candidate.source, "loads": self.loads,
                "num_parameters": self.num_parameters,
                "load_seconds": self.load_seconds, "method": self.method(), "grades": self.grades,
                "errors": self.errors, "requests": m.requests, "cache_hits": m.cache_hits, "batches": m.batches,
                "model_seconds": m.model_seconds, "input_tokens": m.input_tokens, "output_tokens": m.output_tokens}

    def close(self) -> None:
        if self._backend is not None:
            backend, self._backend = self._backend, None
            backend.close()
