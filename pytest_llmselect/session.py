"""Run state of one pytest session, kept in ``config.stash``.

Owns the item order (each candidate's items together), the model lifecycle (one
load per candidate, released before the next loads), the batched request cache per
(task, candidate) group, and the per-case records.
"""

from __future__ import annotations

import gc
import json
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import pytest

from pytest_llmselect.backends.base import Backend, GenerateRequest, LoglikelihoodRequest
from pytest_llmselect.candidates import Candidate
from pytest_llmselect.cost import Price
from pytest_llmselect.accounting import ERRORED, MAX_ERROR_CHARS, SCORED, one_line, score_problem, summarize_missing
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
    LoadFailed,
    OutOfMemory,
    RequestFailedError,
    ServerUnreachable,
    SpecError,
)
from pytest_llmselect.tasks import MARKER, TaskSpec, call_with_params, task_from_marker

if TYPE_CHECKING:
    from pytest_llmselect.progress import Progress

ITEM_CANDIDATE = pytest.StashKey[Candidate]()
ITEM_TASK = pytest.StashKey[TaskSpec]()


@dataclass(frozen=True)
class Settings:
    candidates: tuple[Candidate, ...]
    alpha: float
    reports: tuple[Path, ...] = ()
    device: str | None = None
    dtype: str | None = None
    batch_size: int | str = 32  # or "auto": the largest batch that fits, found by splitting on out-of-memory
    level: float = 0.95
    seed: int = 0
    price: Price = field(default_factory=lambda: Price(usd_per_hour=1.0, source="default"))
    run_log: Path | None = None
    constraints: Any = None  # selection.Constraints; filters before the argmin
    bench_rounds: int | None = None  # timed rounds of each group's model work (None: rounds_for decides)
    bench_warmup: int = 0         # whole untimed rounds before them
    warmup_batch: bool = True     # one untimed batch of each kind first (lazy init, first allocations)
    cost_model: str = "time"      # costmodel.COST_MODELS
    latency_sample: int = 8       # requests per group timed alone at batch size 1 (0: off)
    cpu_threads: int | None = None  # torch intra-op threads for local models (None: torch's default)
    demos: tuple[Any, ...] = ()  # demos.DemoConfig per --llm-demos entry; candidates already expanded
    cache_mode: str = "readwrite"  # response cache: off | read | readwrite
    cache_path: Path | None = None
    errors: str = "worst"  # errored cases: "worst" (count at the metric's worst value) or "exclude"
    truncation: str = "warn"  # a prompt longer than the context window: "warn" (counted, shown) or "error"


@dataclass
class Group:
    task: TaskSpec
    candidate: Candidate
    items: list[pytest.Item] = field(default_factory=list)
    prefetched: bool = False
    fetched: set[str] = field(default_factory=set)  # node ids whose announced requests have run
    cache: dict[Request, Result | RequestFailed] = field(default_factory=dict)
    measures: Measures = field(default_factory=Measures)
    sent: Measures = field(default_factory=Measures)  # what a worker already reported to the controller
    shots: dict[str, Any] | None = None  # nodeid -> demos.Shots, chosen for the whole group at once


@contextmanager
def frozen_after() -> Iterator[None]:
    """Run an import of torch / transformers / model code without the cyclic garbage
    collector, then freeze what it created.

    They leave about a million long-lived objects. Collections triggered during the
    import walked the growing heap again and again, and every full collection later in
    the run walked all of it: seconds over a long run, most of the per-item overhead.
    Frozen objects are skipped by the collector (they are never freed, as modules never
    are). A model loads after this, so releasing it still frees its memory.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def candidate_of(item: pytest.Item) -> Candidate | None:
    return item.stash.get(ITEM_CANDIDATE, None)


def task_of(item: pytest.Item) -> TaskSpec | None:
    return item.stash.get(ITEM_TASK, None)


def _default_task_name(item: pytest.Item) -> str:
    name = getattr(item, "originalname", item.name)
    return name[5:] if name.startswith("test_") else name


class LLMSession:
    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.by_name = {c.name: c for c in settings.candidates}
        self.tasks: dict[str, TaskSpec] = {}
        self.groups: dict[tuple[str, str], Group] = {}
        self.records: list[dict[str, Any]] = []
        self._recorded: set[str] = set()
        self.loads: dict[str, int] = {c.name: 0 for c in settings.candidates}
        self.load_seconds: dict[str, float] = {c.name: 0.0 for c in settings.candidates}
        self.load_errors: dict[str, str] = {}
        self.model_info: dict[str, dict[str, Any]] = {}
        self.energy_counters: dict[str, Any] = {}   # device -> (EnergyCounter | None, why not)
        self._current: tuple[Candidate, Backend] | None = None
        from pytest_llmselect.runlog import RunLogWriter, new_run_id

        self.run_id = new_run_id()
        # Only the controller writes the log (workers' records reach it through their reports).
        self.run_log = RunLogWriter(settings.run_log, self.run_id) \
            if settings.run_log is not None and not hasattr(config, "workerinput") else None
        self._log_started = False
        self.warnings: list[str] = []  # one line each, shown once in the terminal summary
        self.sources: dict[str, str] = {}   # candidate -> the weights it was loaded from
        self.sizers: dict[str, BatchSizer] = {}
        from pytest_llmselect.cache import CacheLayer

        self.cache = CacheLayer(settings.cache_path if settings.cache_mode != "off" else None,
                                settings.cache_mode, warn=self.warnings.append)
        self.report: dict[str, Any] | None = None
        # xdist: worker events waiting for the next report; controller's merged view of workers
        self.pending: list[tuple[str, Any]] = []
        self.remote_tasks: dict[str, dict[str, Any]] = {}
        self.remote_measures: dict[tuple[str, str], Measures] = {}
        self.is_worker = hasattr(config, "workerinput")
        self._sent_tasks: set[str] = set()
        # Per task, the distinct request settings seen: a baseline run with other settings is flagged.
        self.generation: dict[str, set[tuple[str, int | None, tuple[str, ...]]]] = {}
        self.written: list[str] = []
        self.report_errors: list[tuple[str, str]] = []
        self.started = time.time()
        self.embedder: Any = None  # demos.embed.Embedder, loaded on the first knn/mmr choice
        # Configurations (zoo:base+knn:4) share their model: name -> the names loaded with it.
        self.siblings: dict[str, list[str]] = {}
        for c in settings.candidates:
            self.siblings.setdefault(c.model_name, []).append(c.name)
        self.crashed: list[dict[str, Any]] = []  # xdist: cases that killed their worker (controller)
        self._progress: Progress | None = None
        self._announced = False
        # Accounting (accounting.py): the plan is every case item left after deselection,
        # nodeid -> (task, candidate, case id); outcomes hold the cases that ran without a record.
        self.plan: dict[str, tuple[str, str, str]] = {}
        self.outcomes: dict[str, str] = {}  # nodeid -> reason it is missing (skipped, load failed)
        self.deselected: int = 0
        self._case_keys: dict[tuple[str, str, str], str] = {}
        self.truncated: dict[str, int] = {}  # nodeid -> prompt tokens dropped to fit the context window

    # ---- progress and run-log events -----------------------------------------------

    @property
    def progress(self) -> Progress:
        # Made on first use: the terminal reporter registers after this session is created.
        if self._progress is None:
            from pytest_llmselect.progress import for_pytest

            self._progress = for_pytest(self.config)
        return self._progress

    def log_timed(self, event: str, **fields: Any) -> None:
        """A lifecycle event (build/load/group start and end) in the run log, stamped with
        ``time`` (UNIX seconds); goes through ``log_event`` like every other line."""
        self.log_event(event, {"time": round(time.time(), 3), **fields})

    def candidates_in_use(self) -> list[Candidate]:
        """The candidates with items in this run (all of them before collection)."""
        used = {key[1] for key in self.groups}
        return [c for c in self.settings.candidates if c.name in used] or list(self.settings.candidates)

    # ---- collection -------------------------------------------------------------

    def attach(self, item: pytest.Item) -> None:
        """Record the candidate and task of an item that uses the ``llm`` fixture."""
        callspec = getattr(item, "callspec", None)
        if callspec is None or "llm" not in callspec.params:
            return
        cand = callspec.params["llm"]
        if not isinstance(cand, Candidate):
            return
        item.stash[ITEM_CANDIDATE] = cand
        marker = item.get_closest_marker(MARKER)
        try:
            spec = task_from_marker(marker.args if marker else (), marker.kwargs if marker else {},
                                    _default_task_name(item))
        except SpecError as exc:
            raise pytest.UsageError(f"{item.nodeid}: {exc}") from None
        if marker is None:  # allowed, but what it assumes must be said once per test function
            where = item.nodeid.split("[", 1)[0]
            warning = (f"{where} uses the llm fixture without @pytest.mark.llm_task: task {spec.name!r}, "
                       "metric not named, higher scores taken as better")
            if warning not in self.warnings:
                self.warnings.append(warning)
        known = self.tasks.setdefault(spec.name, spec)
        if known != spec:
            raise pytest.UsageError(
                f"{item.nodeid}: task {spec.name!r} is declared twice with different settings "
                f"({known.to_dict()} vs {spec.to_dict()})"
            )
        item.stash[ITEM_TASK] = known

    def order_items(self, items: list[pytest.Item]) -> list[pytest.Item]:
        """Non-LLM items first, then each candidate's items together (stable within)."""
        rank = {c.name: i for i, c in enumerate(self.settings.candidates)}
        for item in items:
            self.attach(item)
        decorated = sorted(
            enumerate(items),
            key=lambda pair: (rank[c.name] if (c := candidate_of(pair[1])) else -1, pair[0]),
        )
        ordered = [item for _, item in decorated]
        self.groups.clear()
        for item in ordered:
            cand, task = candidate_of(item), task_of(item)
            if cand is not None and task is not None:
                key = (task.name, cand.name)
                if key not in self.groups:
                    self.groups[key] = Group(task, cand)
                self.groups[key].items.append(item)
        return ordered

    # ---- model lifecycle --------------------------------------------------------

    def backend_for(self, cand: Candidate, item: pytest.Item | None = None) -> Backend:
        if self._current is not None and self._current[0].model_name == cand.model_name:
            return self._current[1]
        if cand.name in self.load_errors:
            raise LoadFailed(f"{cand.name} failed to load: {self.load_errors[cand.name]}")
        self.release()
        from pytest_llmselect.backends import _hf, is_local, load_backend, resolve_source

        if not self._announced:
            from pytest_llmselect.startup import announce, build_zoo

            self._announced = True
            if any(is_local(c) for c in self.candidates_in_use()):
                try:
                    with frozen_after():
                        _hf()  # torch and transformers
                    if self.settings.cpu_threads is not None:
                        import torch

                        torch.set_num_threads(self.settings.cpu_threads)
                except LLMSelectError:
                    pass  # each local candidate's load below reports it
            announce(self)
            build_zoo(self)

        def load() -> tuple[Backend, float]:
            start = time.perf_counter()
            loaded = load_backend(cand, device=self.settings.device, dtype=self.settings.dtype, source=source)
            return loaded, time.perf_counter() - start

        self.progress.note(f"loading {cand.name}")
        self.log_timed("load_start", candidate=cand.name)
        try:
            # Outside the timed load: importing torch is paid once per process, and a zoo
            # model's first-use training is not part of loading it.
            source = resolve_source(cand) if is_local(cand) else None
            if source is not None:
                with frozen_after():
                    _hf().import_model_class(source, revision=cand.revision,
                                             trust_remote_code=cand.trust_remote_code)
            if item is None:
                backend, seconds = load()
            else:
                from pytest_llmselect.timing import timed_by_benchmark

                backend, seconds = timed_by_benchmark(
                    self.config, item, group="llm-load", name="load", param=cand.model_name,
                    params={"candidate": cand.model_name}, target=load,
                )
        except Exception as exc:  # any load failure: one line, remembered, no retry per case
            error = one_line(str(exc) if isinstance(exc, LLMSelectError) else f"{type(exc).__name__}: {exc}",
                             2 * MAX_ERROR_CHARS, join=True)
            for name in self.siblings.get(cand.model_name, [cand.name]):  # every configuration of the model
                self.load_errors[name] = error
                if self.is_worker:
                    self.pending.append(("llmselect.model", {"name": name, "loads": 0, "load_seconds": 0.0,
                                                             "info": {}, "error": error}))
            self.log_timed("load_end", candidate=cand.name, error=error)
            raise LoadFailed(f"{cand.name} failed to load: {error}") from None
        for name in self.siblings.get(cand.model_name, [cand.name]):
            self.sources[name] = source or cand.source
        self.log_timed("load_end", candidate=cand.name, seconds=round(seconds, 3))
        info = backend.info
        # One load serves every configuration of this model; each one's entry says so.
        for name in self.siblings.get(cand.model_name, [cand.name]):
            self.load_seconds[name] = self.load_seconds.get(name, 0.0) + seconds
            self.loads[name] = self.loads.get(name, 0) + 1
            self.model_info[name] = {
                "num_parameters": info.num_parameters, "device": info.device, "dtype": info.dtype,
                "source": info.extra.get("source", cand.source),
                "parameter_bytes": info.extra.get("parameter_bytes"), "buffer_bytes": info.extra.get("buffer_bytes"),
            }
            if "identity" in info.extra:  # a served model: base URL, model name, server (never the key)
                self.model_info[name]["identity"] = info.extra["identity"]
            if self.is_worker:
                self.pending.append(("llmselect.model", {"name": name, "loads": 1, "load_seconds": seconds,
                                                         "info": self.model_info[name]}))
        self._current = (cand, backend)
        return backend

    def release(self) -> None:
        if self._current is not None:
            _, backend = self._current
            self._current = None
            backend.close()

    def after_item(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        cand = candidate_of(item)
        if cand is None:
            return
        if self.is_worker:
            self._flush_to_report(item)
        nxt = candidate_of(nextitem) if nextitem is not None else None
        if nxt is None or nxt.model_name != cand.model_name:
            self.release()

    def _flush_to_report(self, item: pytest.Item) -> None:
        """Worker side: attach pending events and measurement deltas to this item's report."""
        from pytest_llmselect.distributed import measures_delta, snapshot

        task = task_of(item)
        if task is not None and task.name not in self._sent_tasks:
            self._sent_tasks.add(task.name)
            item.user_properties.append(("llmselect.task", {**task.to_dict(),
                                                             "generation": self.generation_of(task.name)}))
        item.user_properties.extend(self.pending)
        self.pending.clear()
        for key, group in self.groups.items():
            if group.measures.requests != group.sent.requests:
                item.user_properties.append(("llmselect.measures", {
                    "task": key[0], "candidate": key[1], "delta": measures_delta(group.measures, group.sent)}))
                group.sent = snapshot(group.measures)

    # ---- requests ---------------------------------------------------------------

    def group_of(self, item: pytest.Item) -> Group:
        cand, task = candidate_of(item), task_of(item)
        assert cand is not None and task is not None, "llm fixture used on an item without a candidate"
        key = (task.name, cand.name)
        if key not in self.groups:  # item run outside the normal collection (e.g. a plugin re-run)
            self.groups[key] = Group(task, cand, [item])
        return self.groups[key]

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
        from pytest_llmselect.distributed import worker_scheduled

        scheduled = worker_scheduled(self.config)  # under xdist: only what this worker will run
        todo = [it for it in group.items if it.nodeid not in group.fetched
                and (scheduled is None or it.nodeid in scheduled or it is item)]
        group.fetched.update(it.nodeid for it in todo)
        if not todo:
            return
        wanted: list[Request] = []
        for it in todo:
            params = dict(getattr(it, "callspec").params)
            if group.task.demos is not None:
                params["demos"] = self.demos_for(it)
            made = call_with_params(group.task.requests, params)
            made = made if isinstance(made, (list, tuple)) else [made]
            for req in made:
                if not isinstance(req, (GenerateRequest, LoglikelihoodRequest)):
                    raise SpecError(
                        f"task {group.task.name!r}: requests() must return GenerateRequest/LoglikelihoodRequest "
                        f"objects, got {req!r} of type {type(req).__name__}"
                    )
                wanted.append(req)
        self._run(group, backend, wanted, item=todo[0])

    def _energy_counter(self, device: str) -> Any:
        if device not in self.energy_counters:
            from pytest_llmselect.energy import detect

            self.energy_counters[device] = detect(device)
        return self.energy_counters[device][0]

    def _run(self, group: Group, backend: Backend, requests: Sequence[Request], *,
             item: pytest.Item | None = None) -> None:
        """Run ``requests``; with ``item`` (the group's prefetch) timed as ``_timed`` says."""
        from pytest_llmselect.progress import meter

        label = f"{group.task.name} · {group.candidate.name}"
        key = f"group:{label}"
        batch_size = self._batch_size(group.candidate)
        counter = self._energy_counter(backend.info.device)
        calls: list[Measures] = []

        # The cache is a layer in front of the model work: hits never reach the timed work below.
        cand = group.candidate
        hits, store = self.cache.lookup(cand.name, self.sources.get(cand.name, cand.source), backend.info, requests)
        todo = [r for r in dict.fromkeys(requests) if r not in hits]

        # Each round restarts the batch count: say which round it is, or progress seems to go back.
        warm = self.settings.bench_warmup if item is not None else 0
        rounds = self.rounds_for(cand.name, served=backend.info.device == "remote") if item is not None else 1

        def work() -> tuple[dict[Request, Result], Measures]:
            fresh = Measures()  # per round: warm-up and extra rounds must not add up
            began = time.perf_counter()
            call = len(calls) + 1
            shown = (label if warm + rounds <= 1 else f"{label}, warm-up round {call}/{warm}" if call <= warm
                     else f"{label}, round {call - warm}/{rounds}")

            def show(done: int, total: int) -> None:
                self.progress.status(key, meter(shown, done, total, time.perf_counter() - began, "batch"))

            before = counter.read() if counter is not None else None
            out = run_requests(backend, todo, batch_size=batch_size, measures=fresh, on_batch=store,
                               on_progress=show)
            if counter is not None:
                fresh.energy_joules = counter.read() - before
            calls.append(fresh)
            return out, fresh

        if item is not None:
            self.log_timed("group_start", task=group.task.name, candidate=group.candidate.name,
                           requests=len(todo), cached=len(hits))
        try:
            results, measured = self._timed(group, backend, todo, work, calls, item=item)
        except BackendError as exc:
            if isinstance(exc.__cause__, OutOfMemory):  # every split tried: this candidate is out, the others go on
                reason = f"{group.candidate.name}: {exc}"
                self.load_errors[group.candidate.name] = reason
                self.release()
                raise BackendError(reason) from None
            raise
        if store is not None and len(measured.round_seconds) > 1 and calls and calls[0].model_seconds > 0:
            # The cache kept the first call's batches: say how each timed round compares with it.
            store.rounds([r / calls[0].model_seconds for r in measured.round_seconds])
        if item is not None:
            self.log_timed("group_end", task=group.task.name, candidate=group.candidate.name,
                           requests=measured.requests, batches=measured.batches,
                           seconds=round(measured.model_seconds, 3), cached=len(hits))
            self.progress.finish(key, f"{label}: {measured.requests} requests in {measured.batches} batches, "
                                      f"{measured.model_seconds:.1f}s of model time"
                                      + (f", {len(hits)} from the cache" if hits else ""))
        measured.add_cached(list(hits.values()))
        results.update({r: h.result for r, h in hits.items()})
        group.cache.update(results)
        group.measures.merge(measured)
        settings = self.generation.setdefault(group.task.name, set())
        for req in requests:
            settings.add(("chat" if req.is_chat else "generate", req.max_new_tokens, req.stop)
                         if isinstance(req, GenerateRequest)
                         else ("loglikelihood", None, ()))
        self.log_state()

    def _timed(self, group: Group, backend: Backend, todo: Sequence[Request], work: Any, calls: list[Measures],
               *, item: pytest.Item | None) -> tuple[dict[Request, Result], Measures]:
        """With ``item`` (the group's prefetch): warm-up, then timed rounds through pytest-benchmark,
        then the per-request latency sample; without, one untimed-round run of ``todo``."""
        from pytest_llmselect.backends import memory_baseline, peak_memory

        if not todo:  # everything came from the cache: no model work to time
            return {}, Measures()
        s = self.settings
        timed = item is not None
        warm_rounds = s.bench_warmup if timed else 0
        device = backend.info.device
        served = device == "remote"  # every request is paid for, and its latency is its own
        rounds = self.rounds_for(group.candidate.name, served=served)
        batch_size = self._batch_size(group.candidate)
        warm_batch = timed and s.warmup_batch and not served
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
            measured.request_latencies = request_latencies(backend, todo, s.latency_sample)
        return results, measured

    # ---- demonstrations ------------------------------------------------------------

    def demo_config(self, task: TaskSpec, cand: Candidate) -> Any:
        """The candidate's demonstration configuration, else the task pool's default."""
        from pytest_llmselect.demos import parse_demo_config

        if cand.demos is not None:
            return cand.demos
        return parse_demo_config(task.demos.default, option=f"task {task.name!r}: DemoPool default")

    def demos_for(self, item: pytest.Item) -> Any:
        """The demonstrations (demos.Shots) of this item's case, chosen for its whole
        (task, configuration) group on first use. A task without a pool gets empty Shots."""
        from pytest_llmselect.demos import Shots, choose_shots

        group = self.group_of(item)
        pool = group.task.demos
        if pool is None:
            return Shots("none", (), "", ())
        if group.shots is None or item.nodeid not in group.shots:
            config = self.demo_config(group.task, group.candidate)
            items = [it for it in group.items if it.nodeid not in (group.shots or {})] or [item]
            if item not in items:
                items.append(item)
            cases = []
            for it in items:
                case = _case_of(it)
                cases.append((case_id_for(it, group.candidate), pool.query_of(case)))
            if config.strategy in ("knn", "mmr") and self.embedder is None:
                from pytest_llmselect.demos.embed import Embedder

                self.embedder = Embedder()
            chosen = choose_shots(pool, config, cases, seed=self.settings.seed, embedder=self.embedder)
            group.shots = {**(group.shots or {}), **{it.nodeid: shots for it, shots in zip(items, chosen)}}
        return group.shots[item.nodeid]

    def ensure_prefetched(self, item: pytest.Item) -> tuple[Group, Backend]:
        group = self.group_of(item)
        backend = self.backend_for(group.candidate)
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
                kind = ServerUnreachable if res.unreachable else RequestFailedError
                raise kind(f"{group.candidate.name} could not run a request of this case: {res.error}")
        dropped = sum(getattr(res, "truncated_tokens", 0) for res in dict.fromkeys(results))
        if dropped:
            self.truncated[item.nodeid] = self.truncated.get(item.nodeid, 0) + dropped
            if self.settings.truncation == "error":
                raise LLMSelectError(f"the prompt is longer than {group.candidate.name}'s context window: "
                                     f"{dropped} token(s) would be dropped (--llm-truncation=error)")
        return results  # type: ignore[return-value]

    # ---- records ----------------------------------------------------------------

    def record(self, item: pytest.Item, score: float, *, output: Any, case_id: str,
               group: Any = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        cand, task = candidate_of(item), task_of(item)
        if cand is None or task is None:
            raise LLMSelectError(f"{item.nodeid}: llm_record needs the test to use the `llm` fixture")
        if item.nodeid in self._recorded:
            raise LLMSelectError(f"{item.nodeid}: llm_record was called twice for one case")
        problem = score_problem(score, task=task.name, metric=task.metric, score_range=task.score_range)
        if problem is not None:
            raise LLMSelectError(f"{problem} (case {case_id!r}, candidate {cand.name})")
        self._claim(task.name, cand.name, case_id, item.nodeid)
        from pytest_llmselect.report.jsonio import plain

        # Whatever a test hands over becomes plain JSON data here, so no value can later
        # cost the report, the stored run or the run log.
        rec = {
            "task": task.name, "case_id": case_id, "candidate": cand.name, "score": float(score),
            "status": SCORED,
            "output": plain(output if output is None or isinstance(output, (str, int, float, bool)) else repr(output)),
            "group": plain(group if group is None or isinstance(group, (str, int, float)) else repr(group)),
            "nodeid": item.nodeid,
        }
        if extra:
            for key, value in extra.items():
                try:
                    json.dumps(value, allow_nan=True)
                except (TypeError, ValueError):
                    raise LLMSelectError(
                        f"{item.nodeid}: llm_record({key}=...) must be JSON data (str, number, bool, None, "
                        f"list, dict), got {value!r} of type {type(value).__name__}") from None
            rec["extra"] = plain(extra)  # NaN and inf become null: the run log stays standard JSON
        if task.demos is not None:
            shots = self.demos_for(item)
            rec["demos"] = {"config": shots.config, "ids": list(shots.ids)}
        if self.truncated.get(item.nodeid):
            rec["truncated_tokens"] = self.truncated[item.nodeid]
        self._add(rec)
        return rec

    def _claim(self, task: str, candidate: str, case_id: str, nodeid: str) -> None:
        """Two items may not record the same (task, candidate, case): one would hide the other."""
        key = (task, candidate, case_id)
        other = self._case_keys.get(key)
        if other is not None and other != nodeid:
            raise LLMSelectError(
                f"task {task!r}, candidate {candidate}: case id {case_id!r} is recorded by two tests "
                f"({other} and {nodeid}); give each case a distinct id (llm_record(case_id=...))")
        self._case_keys[key] = nodeid

    def _add(self, rec: dict[str, Any]) -> None:
        self._recorded.add(rec["nodeid"])
        self.records.append(rec)
        self._append_log(rec)
        if self.is_worker:
            self.pending.append(("llmselect.record", rec))

    # ---- accounting: every planned case scored, errored or not run ------------------

    def set_plan(self, items: Sequence[pytest.Item]) -> None:
        """The final item list (after -k/-m/--lf): each case item is one planned case."""
        keep = {item.nodeid for item in items}
        for group in self.groups.values():  # --lf filters after our ordering: batch only what runs
            group.items = [it for it in group.items if it.nodeid in keep]
        self.plan = {}
        seen: dict[tuple[str, str, str], str] = {}
        for item in items:
            cand, task = candidate_of(item), task_of(item)
            if cand is not None and task is not None and isinstance(item, pytest.Function):
                entry = (task.name, cand.name, case_id_for(item, cand))
                if entry in seen:  # the records would collapse into one: refuse before any model loads
                    raise pytest.UsageError(
                        f"task {entry[0]!r}: case id {entry[2]!r} belongs to two tests ({seen[entry]} and "
                        f"{item.nodeid}); give every case a distinct id (an \"id\" key or pytest ids=)")
                seen[entry] = item.nodeid
                self.plan[item.nodeid] = entry
        if self.is_worker:
            self.pending.append(("llmselect.plan", {"items": [[k, *v] for k, v in self.plan.items()],
                                                    "deselected": self.deselected}))
        elif self.plan and not self.config.option.collectonly:
            # In the run log, so a report rebuilt from it knows what never ran, also after a kill.
            self.log_event("plan", {"cases": [list(entry) for entry in self.plan.values()]})

    def observe(self, item: pytest.Item, report: pytest.TestReport, excinfo: Any) -> None:
        """After each phase of a case item: a failure without a score is an errored case; a
        skip, or a candidate that failed to load, leaves the case missing (not run)."""
        entry = self.plan.get(item.nodeid)
        if entry is None or item.nodeid in self._recorded or report.when == "teardown":
            return
        task, cand, case_id = entry
        if excinfo is not None and isinstance(excinfo.value, ServerUnreachable):
            # An outage is not the model's quality: the case is not run, as for a failed load.
            self.outcomes[item.nodeid] = "not run: no answer from its server"
            if self.is_worker:
                self.pending.append(("llmselect.outcome", [item.nodeid, self.outcomes[item.nodeid]]))
            return
        if excinfo is not None and isinstance(excinfo.value, LoadFailed):
            self.outcomes[item.nodeid] = "candidate failed to load"
            report.longrepr = str(excinfo.value)  # one line, not a traceback per case
            if self.is_worker:
                self.pending.append(("llmselect.outcome", [item.nodeid, self.outcomes[item.nodeid]]))
            return
        if report.skipped:
            self.outcomes[item.nodeid] = ("candidate failed to load" if cand in self.load_errors
                                          else "skipped: " + one_line(_skip_reason(report)))
            if self.is_worker:
                self.pending.append(("llmselect.outcome", [item.nodeid, self.outcomes[item.nodeid]]))
            return
        if report.failed and cand in self.load_errors:  # e.g. out of memory even one request at a time
            self.outcomes[item.nodeid] = "candidate failed to load"
            if self.is_worker:
                self.pending.append(("llmselect.outcome", [item.nodeid, self.outcomes[item.nodeid]]))
            return
        if report.failed:
            error = one_line(f"{excinfo.typename}: {excinfo.value}" if excinfo is not None else report.longreprtext)
        elif report.when == "call":
            error = "the test finished without recording a score (call llm_record)"
            # The case is errored in the report: pytest's own summary must not count it passed.
            report.outcome, report.longrepr = "failed", f"{case_id}: {error}"
        else:
            return
        self.record_error(item.nodeid, task, cand, case_id, error)

    def record_error(self, nodeid: str, task: str, candidate: str, case_id: str, error: str) -> None:
        if nodeid in self._recorded:
            return
        if self._case_keys.get((task, candidate, case_id), nodeid) != nodeid:
            case_id = f"{case_id} ({nodeid})"  # a duplicate id's error: keep it apart, and counted
        rec = {"task": task, "case_id": case_id, "candidate": candidate, "score": None,
               "status": ERRORED, "error": one_line(error), "output": None, "group": None, "nodeid": nodeid}
        if self.truncated.get(nodeid):
            rec["truncated_tokens"] = self.truncated[nodeid]
        self._add(rec)

    def missing(self, stop_reason: str) -> list[dict[str, Any]]:
        """``{task, candidate, count, reason}`` of the planned cases that have no record."""
        entries = []
        crashed = {c.get("nodeid") for c in self.crashed}
        for nodeid, (task, cand, _) in self.plan.items():
            if nodeid in self._recorded:
                continue
            reason = "worker crashed" if nodeid in crashed else self.outcomes.get(nodeid)
            if reason is None:
                reason = "candidate failed to load" if cand in self.load_errors else stop_reason
            entries.append((task, cand, reason))
        return summarize_missing(entries)

    def candidate_status(self, name: str) -> str:
        if name in self.load_errors:
            return "load_failed"
        return "evaluated" if any(r["candidate"] == name for r in self.records) else "not_run"

    def _append_log(self, rec: dict[str, Any]) -> None:
        self.log_event("case", rec)

    def log_event(self, event: str, payload: dict[str, Any]) -> None:
        """Append one event of this run to the run log (see runlog.py); a failure is one warning."""
        log = self.run_log
        if log is None or log.problem is not None:
            return
        if not self._log_started:
            self._log_started = True
            s = self.settings
            log.write("start", {"time": round(time.time(), 3),
                                "settings": {"alpha": s.alpha, "level": s.level, "seed": s.seed},
                                "args": [str(a) for a in self.config.args]})
        log.write(event, payload)
        if log.problem is not None:
            self.warnings.append(log.problem)

    @property
    def logged_anything(self) -> bool:
        return self._log_started

    def log_state(self) -> None:
        """Write the candidates, tasks and measurements so far, so a killed run can still be reported."""
        if self.run_log is None or self.run_log.problem is not None:
            return
        from pytest_llmselect.finish import session_inputs

        inputs = session_inputs(self)
        self.log_event("state", {
            "candidates": inputs["candidates"], "tasks": inputs["tasks"],
            "measures": [{"task": t, "candidate": c, "measures": m} for (t, c), m in inputs["measures"].items()],
        })

    def generation_of(self, task: str) -> list[dict[str, Any]]:
        return [{"kind": k, "max_new_tokens": n, "stop": list(stop)}
                for k, n, stop in sorted(self.generation.get(task, ()), key=repr)]

    def figures(self, task: str, candidate: str) -> dict[str, Any]:
        """The cost figures measured so far for one (task, candidate) group, with units as in the report."""
        from pytest_llmselect.cost import dollars_per_1000_cases
        from pytest_llmselect.finish import measures_dict

        group = self.groups.get((task, candidate))
        measures = group.measures if group is not None else Measures()
        params = self.model_info.get(candidate, {}).get("num_parameters")
        out = measures_dict(measures, params, parallel=self.parallel, cost_model=self.settings.cost_model,
                            level=self.settings.level)
        n = len(self.scores(task, candidate)) or measures.requests
        out["cases"] = n
        out["usd_per_1000_cases"] = dollars_per_1000_cases(
            n_cases=n, model_seconds=measures.model_seconds, input_tokens=measures.input_tokens,
            output_tokens=measures.output_tokens, flops=out["flops"], energy_joules=measures.energy_joules,
            price=self.price_of(candidate),
        ) if n else None
        return out

    def rounds_for(self, candidate: str, *, served: bool = False) -> int:
        """Timed rounds of ``candidate``'s model work: ``--llm-benchmark-rounds`` when set; by
        default 3 where its cost is priced by time on a local model (the interval needs the
        spread of rounds), and 1 where its cost is exact (tokens, flops, a token-priced API)
        or the model is served (``served``): more rounds would repeat, and pay for, the same
        requests."""
        if self.settings.bench_rounds is not None:
            return self.settings.bench_rounds
        return 3 if self.price_of(candidate).usd_per_hour is not None and not served else 1

    def price_of(self, candidate: str) -> Price:
        """The price ``candidate`` is charged under the session's cost model."""
        from pytest_llmselect.costmodel import effective_price

        return effective_price(self.by_name[candidate].price, self.settings.price, self.settings.cost_model)

    @property
    def parallel(self) -> bool:
        """True when tests run under pytest-xdist: timings were taken with other work in parallel."""
        return bool(getattr(self.config.option, "numprocesses", None)) or hasattr(self.config, "workerinput")

    def estimate_scores(self, task: str, candidate: str) -> list[float]:
        """The scores the quality estimate of one group uses: errored cases at the metric's
        worst value under the default policy (accounting.effective_scores)."""
        from pytest_llmselect.accounting import effective_scores

        spec = self.tasks.get(task)
        block = spec.to_dict() if spec is not None else self.remote_tasks.get(task, {"name": task})
        rows = effective_scores(self.records, block, self.settings.errors).get(candidate, {})
        return [score for score, _ in rows.values()]

    def scores(self, task: str, candidate: str) -> list[float]:
        """The scored (not errored) cases' scores of one group."""
        return [r["score"] for r in self.records
                if r["task"] == task and r["candidate"] == candidate and r.get("status", SCORED) == SCORED]

    # ---- end of session -----------------------------------------------------------

    def close(self) -> None:
        self.release()
        if self.run_log is not None:
            self.run_log.close()
        self.cache.close()


def _case_of(item: pytest.Item) -> Any:
    """The case parameter of an item: the one named ``case``, else the first dict parameter."""
    params = getattr(item, "callspec").params
    if "case" in params:
        return params["case"]
    for name, value in params.items():
        if name != "llm" and isinstance(value, dict):
            return value
    raise LLMSelectError(f"{item.nodeid}: a task with demonstrations needs a `case` parameter (a dict) "
                         "to compare with the pool")


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def case_id_for(item: pytest.Item, cand: Candidate) -> str:
    """The case's id without the candidate, so records pair across candidates.

    Derived from the item's whole parametrization: when every parameter is a dict with an
    ``"id"`` key, those ids joined with ``-``; otherwise pytest's own id of the item with
    the candidate's part removed (so two templates x four cases are eight distinct ids)."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return item.name
    params = {k: v for k, v in callspec.params.items() if k != "llm"}
    if params and all(isinstance(v, dict) and "id" in v for v in params.values()):
        return "-".join(str(v["id"]) for v in params.values())
    ids = callspec.id
    token = cand.name
    if ids == token:
        return getattr(item, "originalname", item.name)
    for prefix, suffix in ((token + "-", ""), ("", "-" + token)):
        if prefix and ids.startswith(prefix):
            return ids[len(prefix):]
        if suffix and ids.endswith(suffix):
            return ids[: -len(suffix)]
    return ids.replace(f"-{token}-", "-", 1)
