"""The runner: each (task, candidate) group's model work, batched, timed and cached.

On a group's first use it runs every request the group's cases announce (``requests=``)
in batches, behind the response cache layer (hits never reach the timed work), with
warm-up, timed rounds through pytest-benchmark and a per-request latency sample; later
cases are served from that batch. Owns the batch sizers, the energy counters, the request
settings seen per task, the prompt tokens dropped per case, and the measures of model work
that xdist workers reported.
"""

from __future__ import annotations

import time
import weakref
from typing import Any, Callable, Sequence

import pytest

from pytest_llmselect.backends.base import Backend, GenerateRequest, LoglikelihoodRequest
from pytest_llmselect.candidates import Candidate
from pytest_llmselect.engine import (
    BatchSizer,
    Measures,
    Request,
    RequestFailed,
    Result,
    combine_rounds,
    request_latencies,
    run_requests,
    warm_up,
)
from pytest_llmselect.errors import (
    BackendError,
    CapabilityError,
    LLMSelectError,
    OutOfMemory,
    Interrupted,
    RequestFailedError,
    ServerFailed,
    ServerUnreachable,
    SpecError,
)
from pytest_llmselect.run.demonstrations import Demonstrations
from pytest_llmselect.run.events import RunEvents
from pytest_llmselect.run.graded import expand_requests, judge_grade, sampled_requests
from pytest_llmselect.run.plan import Group, Plan, case_id_for
from pytest_llmselect.run.pool import ModelPool
from pytest_llmselect.run.scheduling import worker_scheduled
from pytest_llmselect.run.settings import Settings
from pytest_llmselect.tasks import call_with_params


class Runner:
    def __init__(self, config: pytest.Config, settings: Settings, events: RunEvents, plan: Plan,
                 pool: ModelPool, demos: Demonstrations, on_measured: Callable[[], None] = lambda: None) -> None:
        from pytest_llmselect.cache_layer import CacheLayer

        self.config = config
        self.settings = settings
        self.events = events
        self.plan = plan
        self.pool = pool
        self.demos = demos
        self.on_measured = on_measured  # after each run of model work: the session logs its state
        self.cache = CacheLayer(settings.cache_path if settings.cache_mode != "off" else None,
                                settings.cache_mode, warn=events.warnings.append, max_age_s=settings.cache_max_age_s)
        self.sizers: dict[str, BatchSizer] = {}
        self.energy_counters: dict[str, Any] = {}   # device -> (EnergyCounter | None, why not)
        # Per task, the distinct request settings seen: a baseline run with other settings is flagged.
        self.generation: dict[str, set[tuple[str, int | None, tuple[str, ...]]]] = {}
        self.truncated: dict[str, int] = {}  # nodeid -> prompt tokens dropped to fit the context window
        self.cut: dict[str, str] = {}  # nodeid -> why an answer was cut to its max_new_tokens (bounds.py)
        # Set when Ctrl-C interrupted a group's requests: only that group's answered cases still
        # run (``runs_after_interrupt``), then the session stops.
        self.interrupted: str | None = None
        self.interrupted_group: Group | None = None
        self._requests_of: dict[str, list[Request]] = {}  # nodeid -> the requests its case announced
        self._aged: set[str] = set()  # candidates whose cached answers' age was said
        self.remote_measures: dict[tuple[str, str], Measures] = {}  # xdist controller: what workers measured
        # id(backend) -> (weak ref, request kinds warmed): the warm-up batch runs once per loaded model.
        self._warmed: dict[int, tuple[Any, set[str]]] = {}

    def generation_of(self, task: str) -> list[dict[str, Any]]:
        return [{"kind": k, "max_new_tokens": n, "stop": list(stop)}
                for k, n, stop in sorted(self.generation.get(task, ()), key=repr)]

    # ---- what a case asks for ---------------------------------------------------------

    def ensure_prefetched(self, item: pytest.Item) -> tuple[Group, Backend]:
        group = self.plan.group_of(item)
        backend = self.pool.backend_for(group.candidate)
        if not group.prefetched or (item.nodeid not in group.fetched and group.task.requests is not None):
            self._prefetch(group, backend, item)
        return group, backend

    def resolve(self, item: pytest.Item, requests: Sequence[Request]) -> list[Result]:
        group, backend = self.ensure_prefetched(item)
        missing = [r for r in dict.fromkeys(requests) if r not in group.cache]
        if missing:  # not announced by the task's requests(): still works, just unbatched
            before = group.measures.requests
            self._run(group, backend, missing)
            group.measures.unbatched_requests += group.measures.requests - before
        results = [group.cache[r] for r in requests]
        for res in results:
            if isinstance(res, RequestFailed):  # only this case fails; the group's other results stand
                if res.capability is not None:
                    raise CapabilityError(res.capability)
                message = f"{group.candidate.name} could not run a request of this case: {res.error}"
                if not res.unreachable:
                    raise RequestFailedError(message)
                # An outage (or Ctrl-C) is not the model's quality: the case is not run, the reason named.
                kind = Interrupted if res.interrupted else ServerUnreachable if res.reason is None else ServerFailed
                raise kind(message, reason=res.reason or "no answer from its server")
        cut = next((r.cut for r in results if getattr(r, "cut", None)), None)
        if cut:
            self.cut[item.nodeid] = cut
        dropped = sum(getattr(res, "truncated_tokens", 0) for res in dict.fromkeys(results))
        if dropped:
            self.truncated[item.nodeid] = self.truncated.get(item.nodeid, 0) + dropped
            if self.settings.truncation == "error":
                raise LLMSelectError(f"the prompt is longer than {group.candidate.name}'s context window: "
                                     f"{dropped} token(s) would be dropped (--llm-truncation=error)")
        return results  # type: ignore[return-value]

    def sampled(self, item: pytest.Item, request: GenerateRequest) -> list[GenerateRequest]:
        """The seeded samples ``llm.samples`` asks for (run/graded.py)."""
        group = self.plan.group_of(item)
        return sampled_requests(self.settings, group.task, case_id_for(item, group.candidate), request)

    def judge_grade(self, item: pytest.Item, kind: str, fields: dict[str, Any], template: str | None) -> float:
        """This case's grade by its task's judge; the group's outputs graded in one batch first."""
        group = self.plan.group_of(item)
        return judge_grade(self, self.pool.judges, item, group.task, kind, fields, template,
                           lambda it: case_id_for(it, group.candidate))

    # ---- a group's model work ---------------------------------------------------------

    def _batch_size(self, cand: Candidate) -> BatchSizer:
        if cand.name not in self.sizers:
            if cand.served is not None and cand.batch_size is None:
                # A served model gets the whole group at once: the server batches, and the backend
                # keeps max_concurrency requests in flight without waiting for a batch's slowest.
                size: int | str = 1 << 30
            else:
                size = cand.batch_size or self.settings.batch_size
            self.sizers[cand.name] = BatchSizer.of(size)
        return self.sizers[cand.name]

    def _prefetch(self, group: Group, backend: Backend, item: pytest.Item | None = None) -> None:
        group.prefetched = True
        if group.task.requests is None:
            return
        scheduled = worker_scheduled(self.config)  # under xdist: only what this worker will run
        # A race batches one stage of the group at a time (run/racing.py).
        scope = self.plan.scheduling.batch_scope(item) if item is not None else None
        todo = [it for it in group.items if it.nodeid not in group.fetched
                and (scheduled is None or it.nodeid in scheduled or it is item)
                and (scope is None or it.nodeid in scope or it is item)]
        group.fetched.update(it.nodeid for it in todo)
        if not todo:
            return
        wanted: list[Request] = []
        for it in todo:
            params = dict(getattr(it, "callspec").params)
            if group.task.demos is not None:
                params["demos"] = self.demos.demos_for(it)
            made = call_with_params(group.task.requests, params)
            made = made if isinstance(made, (list, tuple)) else [made]
            made = expand_requests(self.settings, group.task, case_id_for(it, group.candidate), made)
            self._requests_of[it.nodeid] = list(made)
            for req in made:
                if not isinstance(req, (GenerateRequest, LoglikelihoodRequest)):
                    raise SpecError(
                        f"task {group.task.name!r}: requests() must return GenerateRequest/LoglikelihoodRequest "
                        f"objects, got {req!r} of type {type(req).__name__}"
                    )
                wanted.append(req)
        self._run(group, backend, wanted, item=todo[0], staged=scope is not None)

    def _energy_counter(self, device: str) -> Any:
        if device not in self.energy_counters:
            from pytest_llmselect.energy import detect

            self.energy_counters[device] = detect(device)
        return self.energy_counters[device][0]

    def _run(self, group: Group, backend: Backend, requests: Sequence[Request], *,
             item: pytest.Item | None = None, staged: bool = False) -> None:
        """Run ``requests``; with ``item`` (the group's prefetch) timed as ``_timed`` says;
        ``staged``: one stage of a race, timed in one pass (the stages give the spread)."""
        from pytest_llmselect.progress import counted, meter

        label = f"{group.task.name} · {group.candidate.name}"
        key = f"group:{label}"
        batch_size = self._batch_size(group.candidate)
        counter = self._energy_counter(backend.info.device)
        calls: list[Measures] = []
        progress = self.events.progress

        # The cache is a layer in front of the model work: hits never reach the timed work below.
        cand = group.candidate
        hits, store = self.cached(cand, backend, requests)
        todo = [r for r in dict.fromkeys(requests) if r not in hits]

        # Each round restarts the batch count: say which round it is, or progress seems to go back.
        warm = self.settings.bench_warmup if item is not None and not staged else 0
        rounds = self.settings.rounds_for(cand.name, served=backend.info.device == "remote") \
            if item is not None and not staged else 1
        # The time left covers the whole group: the rounds after this one and the latency sample
        # that follows them (requests timed one at a time, as ``_timed`` takes it).
        sample = self.settings.latency_sample - (len(group.measures.request_latencies) if staged else 0)
        alone = 0 if item is None or backend.info.device == "remote" else max(0, min(len(todo), sample))

        def work() -> tuple[dict[Request, Result], Measures]:
            fresh = Measures()  # per round: warm-up and extra rounds must not add up
            began = time.perf_counter()
            call = len(calls) + 1
            shown = (label if warm + rounds <= 1 else f"{label}, warm-up round {call}/{warm}" if call <= warm
                     else f"{label}, round {call - warm}/{rounds}")

            def show(done: int, total: int) -> None:
                progress.status(key, meter(shown, done, total, time.perf_counter() - began, "batch",
                                           rounds_after=warm + rounds - call, alone=alone,
                                           round_seconds=calls[-1].model_seconds if calls else None))

            before = counter.read() if counter is not None else None
            out = run_requests(backend, todo, batch_size=batch_size, measures=fresh, on_batch=store,
                               on_progress=show, on_result=store.one if store is not None else None)
            if counter is not None:
                fresh.energy_joules = counter.read() - before
            calls.append(fresh)
            return out, fresh

        if item is not None:
            self.events.log_timed("group_start", task=group.task.name, candidate=group.candidate.name,
                                  requests=len(todo), cached=len(hits))
        try:
            results, measured = self._timed(group, backend, todo, work, calls, item=item, staged=staged)
        except BackendError as exc:
            if isinstance(exc.__cause__, OutOfMemory):  # every split tried: this candidate is out, the others go on
                reason = f"{group.candidate.name}: {exc}"
                self.pool.fail(group.candidate.name, reason)
                raise BackendError(reason) from None
            raise
        if store is not None and len(measured.round_seconds) > 1 and calls and calls[0].model_seconds > 0:
            # The cache kept the first call's batches: say how each timed round compares with it.
            store.rounds([r / calls[0].model_seconds for r in measured.round_seconds])
        if store is not None:
            store.memory(measured.peak_memory_bytes, measured.memory_method)
        cancelled = sum(1 for r in results.values() if isinstance(r, RequestFailed) and r.interrupted)
        if self.interrupted is None and (cancelled or getattr(backend, "interrupted", False)):
            # The answers in are kept (and cached): their cases are scored, then the session stops.
            self.interrupted = "interrupted (Ctrl-C) while its requests were in flight"
            self.interrupted_group = group
            answered = sum(not isinstance(r, RequestFailed) for r in results.values())
            self.events.progress.header(
                f"interrupted: {cancelled} request(s) of {label} cancelled; scoring its {answered} answered "
                "case(s), then stopping (Ctrl-C again stops at once)")
        if item is not None:
            self.events.log_timed("group_end", task=group.task.name, candidate=group.candidate.name,
                                  requests=measured.requests, batches=measured.batches,
                                  seconds=round(measured.model_seconds, 3), cached=len(hits))
            progress.finish(key, f"{label}: {counted(measured.requests, 'request')} in "
                                 f"{counted(measured.batches, 'batch')}, {measured.model_seconds:.1f}s of model time"
                                 + (f", {len(hits)} from the cache" if hits else ""))
        measured.add_cached(list(hits.values()))
        self._say_age(cand.name, backend, measured)
        results.update({r: h.result for r, h in hits.items()})
        group.cache.update(results)
        group.measures.merge(measured)
        if staged and measured.round_seconds and measured.requests:
            # Each stage timed once: its seconds scaled to the group's requests so far are one
            # estimate of the group's model seconds, so the cost interval comes from their spread.
            group.stage_rounds.append((measured.round_seconds[0], measured.requests))
            total = group.measures.requests
            group.measures.round_seconds = [sec * total / n for sec, n in group.stage_rounds]
        settings = self.generation.setdefault(group.task.name, set())
        for req in requests:
            settings.add(("chat" if req.is_chat else "generate", req.max_new_tokens, req.stop)
                         if isinstance(req, GenerateRequest)
                         else ("loglikelihood", None, ()))
        self.on_measured()

    def runs_after_interrupt(self, item: pytest.Item) -> bool:
        """After Ctrl-C: whether ``item`` still runs: a case of the interrupted group whose
        requests were all answered (its answer is in hand: scoring it costs nothing)."""
        group = self.interrupted_group
        if group is None or item not in group.items:
            return False
        requests = self._requests_of.get(item.nodeid)
        return requests is not None and all(
            r in group.cache and not isinstance(group.cache[r], RequestFailed) for r in requests)

    def _say_age(self, name: str, backend: Backend, measured: Measures) -> None:
        """Once per served candidate: how old its cached answers are (a server can change the
        model behind a name; ``--llm-cache-max-age`` sends older answers again)."""
        if backend.info.device != "remote" or not measured.cache_hits or measured.cache_oldest is None \
                or name in self._aged:
            return
        self._aged.add(name)
        age = max(0.0, time.time() - measured.cache_oldest)
        shown = f"{age / 86400:.1f} days" if age >= 86400 else f"{age / 3600:.1f} hours" if age >= 3600 \
            else f"{age / 60:.0f} minutes"
        advice = ("--llm-cache-max-age sends answers older than it again" if self.settings.cache_max_age_s is None
                  else "older ones than --llm-cache-max-age were sent again")
        self.events.warnings.append(
            f"{name}: {measured.cache_hits} answer(s) came from the response cache, the oldest stored {shown} "
            f"ago; a served model can change behind its name: {advice}")

    def _timed(self, group: Group, backend: Backend, todo: Sequence[Request], work: Any, calls: list[Measures],
               *, item: pytest.Item | None, staged: bool = False) -> tuple[dict[Request, Result], Measures]:
        """With ``item`` (the group's prefetch): warm-up, then timed rounds through pytest-benchmark,
        then the per-request latency sample; without, one untimed-round run of ``todo``."""
        from pytest_llmselect.backends import memory_baseline, peak_memory

        if not todo:  # everything came from the cache: no model work to time
            return {}, Measures()
        s = self.settings
        timed = item is not None
        warm_rounds = s.bench_warmup if timed and not staged else 0
        device = backend.info.device
        served = device == "remote"  # every request is paid for, and its latency is its own
        rounds = 1 if staged else s.rounds_for(group.candidate.name, served=served)
        batch_size = self._batch_size(group.candidate)
        # Once per loaded model and kind of request: a model's second task (or a race's next
        # stage) finds its lazy initialisation and first allocations done.
        warm_batch = timed and s.warmup_batch and not served and self._first_use(backend, todo)
        warmup_seconds = warm_up(backend, todo, batch_size) if warm_batch else 0.0
        # The candidate's memory: its weights plus the peak its work adds to what is held just
        # before the work. Library state that the process's first model work initialises once
        # (and never frees) is then nobody's, instead of the first candidate's.
        extra = backend.info.extra
        weights = int(extra.get("parameter_bytes") or 0) + int(extra.get("buffer_bytes") or 0)
        baseline = memory_baseline(device, release=timed)
        with peak_memory(device, baseline, weights) as peak:
            if not timed:
                results, _ = work()
            else:
                from pytest_llmselect.timing import timed_by_benchmark

                results, _ = timed_by_benchmark(
                    self.config, item, group=f"llm: {group.task.name}", name=group.task.name,
                    param=group.candidate.name,
                    params={"task": group.task.name, "candidate": group.candidate.name},
                    target=work, rounds=rounds, warmup_rounds=warm_rounds,
                    extra_info={"requests": len(todo), "unit": "seconds for the whole group"},
                )
        measured = combine_rounds(calls[warm_rounds:], timed)
        measured.warmup_seconds = warmup_seconds + sum(m.model_seconds for m in calls[:warm_rounds])
        measured.peak_memory_bytes, measured.memory_method = peak.bytes, peak.method
        if timed and served:
            measured.request_latencies = list(measured.latencies)  # each request timed on its own already
            measured.requests_timed_alone = True
        elif timed and s.latency_sample:
            # A race's stages share one sample of the full run's size: a stage timing its own
            # requests alone again cost more model work than the stage itself (8 of 16 requests).
            want = s.latency_sample - (len(group.measures.request_latencies) if staged else 0)
            if want > 0:
                measured.request_latencies = request_latencies(backend, todo, want)
        return results, measured

    def cached(self, cand: Candidate, backend: Backend, requests: Sequence[Request]) -> tuple[dict[Any, Any], Any]:
        """``(hits, store)`` of the response cache for ``cand``'s ``requests`` on ``backend``."""
        return self.cache.lookup(cand.name, self.pool.sources.get(cand.name, cand.source), backend.info, requests)

    def time_again(self, cand: Candidate, backend: Backend, requests: Sequence[Request], rounds: int,
                   measures: Measures) -> list[float]:
        """Model seconds of each of ``rounds`` further timed rounds of ``requests`` (answers
        discarded: the first pass scored them), batched as the first pass; the warm-up batch
        first where this loaded model has not run that kind yet (its seconds added to
        ``measures.warmup_seconds``)."""
        batch_size = self._batch_size(cand)
        if self.settings.warmup_batch and self._first_use(backend, requests):
            measures.warmup_seconds += warm_up(backend, requests, batch_size)
        out = []
        for _ in range(rounds):
            fresh = Measures()
            began = time.perf_counter()
            run_requests(backend, requests, batch_size=batch_size, measures=fresh)
            out.append(fresh.model_seconds if fresh.model_seconds > 0 else time.perf_counter() - began)
        return out

    def _first_use(self, backend: Backend, todo: Sequence[Request]) -> bool:
        """True the first time this loaded ``backend`` runs a kind of request in ``todo``."""
        kinds = {type(r).__name__ for r in todo}
        seen = self._warmed.get(id(backend))
        if seen is None or seen[0]() is not backend:  # new, or an id reused by a newer model
            try:
                ref = weakref.ref(backend)
            except TypeError:  # cannot be referred to weakly: warm it every time, as before
                return True
            seen = self._warmed[id(backend)] = (ref, set())
        new = not kinds <= seen[1]
        seen[1].update(kinds)
        return new

    def close(self) -> None:
        self.cache.close()
