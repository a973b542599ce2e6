"""pytest11 entry point: options, ini keys, markers and hooks. State lives in the session object."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_llmselect.errors import LLMSelectError
from pytest_llmselect.fixtures import llm, llm_cost, llm_demos, llm_judge, llm_record  # noqa: F401  (fixtures registered via this module)
from pytest_llmselect.option_help import with_default
from pytest_llmselect.run.configure import settings_from_config
from pytest_llmselect.run.plan import candidate_of
from pytest_llmselect.run.session import SESSION_KEY, InterruptedStop, LLMSession
from pytest_llmselect.tasks import MARKER_HELP

# lm-eval task files as suites (lmeval_suite): its option and collection hook; cheap to import.
pytest_plugins = ("pytest_llmselect.lmeval.plugin",)

# pytest-benchmark's storage folder, if this session created it (removed again if left empty).
NEW_BENCHMARK_STORAGE = pytest.StashKey[Path]()

# (option, ini key, help, ini type, ini default)
OPTIONS: list[tuple[str, str, str, str, Any]] = [
    ("--llm-candidates", "llm_candidates",
     "comma-separated candidate models: zoo:NAME, a local directory, a hub id, openai:MODEL@BASE_URL, "
     "vllm:MODEL, or @candidates.toml",
     "string", ""),
    ("--llm-alpha", "llm_alpha",
     "price of quality in cost + alpha * loss: USD per 1,000 cases that one whole unit of loss is worth",
     "string", "10"),
    ("--llm-report", "llm_report",
     "write the selection report to this file; format from the extension (.json, .md, .html); repeatable",
     "args", []),
    ("--llm-device", "llm_device", "device for local models (cuda, cuda:1, cpu); default: cuda if available",
     "string", ""),
    ("--llm-dtype", "llm_dtype", "dtype for local models (auto, float32, float16, bfloat16); "
     "default: bfloat16 on CUDA, float32 on CPU", "string", ""),
    ("--llm-batch-size", "llm_batch_size", "requests per model batch, or 'auto': the largest that fits "
     "(a batch that runs out of memory is split and retried, down to 1)", "string", "32"),
    ("--llm-constraints", "llm_constraints",
     "filters applied before the argmin, e.g. 'max_cost=0.05,max_latency_p95=0.5,min_quality=0.6,"
     "max_peak_memory=4e9' (cost in USD per 1,000 cases, latency in s, memory in bytes)", "string", ""),
    ("--llm-level", "llm_level", "confidence level of intervals and tests", "string", "0.95"),
    ("--llm-price-per-hour", "llm_price_per_hour",
     "assumed USD per hour of the machine a local model runs on, for candidates without a price "
     "(default 1.0: an assumption, shown as such in the report)", "string", "1.0"),
    ("--llm-prices", "llm_prices",
     "TOML price table: [default] and [candidate.\"NAME\"] with usd_per_hour or "
     "usd_per_million_input_tokens / usd_per_million_output_tokens / usd_per_pflop / usd_per_kwh", "string", ""),
    ("--llm-benchmark-rounds", "llm_benchmark_rounds",
     "timed rounds of each (task, candidate) group's model work (pytest-benchmark pedantic rounds); "
     "N: every group N times; 'auto' (default): one timed pass, then 3 rounds in all only for the local "
     "time-priced groups whose cost can change a pick (under pytest -n: 3 for every such group), and 1 "
     "where cost is exact (tokens, flops, token-priced APIs) or the model is served, so a paid API is "
     "not called once per round for nothing", "string", "auto"),
    ("--llm-benchmark-warmup", "llm_benchmark_warmup",
     "untimed warm-up before the timed rounds: 'batch' (one batch of each kind of request), "
     "N whole rounds, or 0 for none", "string", "batch"),
    ("--llm-cost-model", "llm_cost_model",
     "what cost means: time (measured model time x USD per hour), tokens (tokens x USD per million "
     "tokens) or flops (2 x parameters x tokens x USD per PFLOP; exactly reproducible)", "string", "time"),
    ("--llm-latency-sample", "llm_latency_sample",
     "requests per (task, candidate) timed alone at batch size 1 for per-request latency (0: off)",
     "string", "8"),
    ("--llm-cpu-threads", "llm_cpu_threads",
     "torch intra-op threads for local models ('' = torch's default, one per core, or 1 when the "
     "cores are busy: a 1-minute load average of at least the number of cores)", "string", ""),
    ("--llm-run-log", "llm_run_log",
     "append this run's events (one JSON line each, tagged with the run id: start, state, every case "
     "as it is recorded, finish) to this file; never truncated, shared safely by concurrent runs "
     "('' disables)", "string",
     ".llmselect/run-log.jsonl"),
    ("--llm-seed", "llm_seed", "seed of bootstrap resampling and of each (case, sample) generation", "string", "0"),
    ("--llm-judge", "llm_judge", "the judge model (llm_judge fixture): any candidate spec; a task's "
     "llm_task(judge=...) wins", "string", ""),
    ("--llm-samples", "llm_samples", "samples per generation where a sampling task declares none "
     "(default: none: greedy decoding)", "string", ""),
    ("--llm-temperature", "llm_temperature", "sampling temperature where a task declares none (default 1.0)",
     "string", ""),
    ("--llm-top-p", "llm_top_p", "nucleus sampling top_p where a task declares none (default 1.0)", "string", ""),
    ("--llm-demos", "llm_demos",
     "few-shot demonstration configurations, each run with every candidate as its own configuration "
     "(zoo:base+knn:4) on the tasks with a demonstration pool (a task without one runs each model "
     "once): STRATEGY:K[:ORDER] comma-separated, strategies none, first, random, balanced, "
     "knn, bm25, mmr; ORDER similar_last or as_drawn (e.g. 'random:4,knn:4,knn:8')", "string", ""),
    ("--llm-cache", "llm_cache",
     "response cache keyed by model identity, request and settings: off, read (use, never store) or "
     "readwrite (default); a killed or repeated run is served what was already computed", "string", "readwrite"),
    ("--llm-cache-max-age", "llm_cache_max_age",
     "a served model's cached answers older than this (3600, 90s, 30m, 12h, 7d) are sent again: a server "
     "can change the model behind a name; empty (default): any age, and the run says how old", "string", ""),
    ("--llm-cache-path", "llm_cache_path", "the response cache's SQLite file, relative to the rootdir",
     "string", ".llmselect/cache.sqlite"),
    ("--llm-errors", "llm_errors",
     "a case whose test raises counts at the metric's worst value ('worst', the default) or is left out "
     "of the estimate ('exclude'); either way the report shows how many errored", "string", "worst"),
    ("--llm-max-cases", "llm_max_cases",
     "run only the first N cases of each task (the same cases for every candidate, the rest deselected "
     "and counted in the report), for a quick run; 'all' (the default) runs every case", "string", "all"),
    ("--llm-checks", "llm_checks",
     "a candidate under a task's min_quality or over its budget: 'fail' (the default: its check item fails, "
     "for a CI job that ships one model) or 'report' (the item is xfailed with the same line and the run "
     "passes: in a selection, a candidate a minimum excludes is a finding, which the report shows)",
     "string", "fail"),
    ("--llm-truncation", "llm_truncation",
     "a prompt longer than the model's context window: 'warn' (the default: tokens are dropped from the "
     "left, counted per case and shown in the report) or 'error' (the case fails)", "string", "warn"),
    ("--llm-race", "llm_race",
     "race the candidates: each task in stages over one seeded case order, dropping a candidate once an "
     "anytime-valid bound finds it worse than the leader (its other cases end not run, 'raced out'): "
     "'on' (stages of 16, 32, 64... cases), a fixed stage size such as 24, or 'off' (every case of "
     "every candidate)", "string", "off"),
    ("--llm-max-memory", "llm_max_memory",
     "how much memory loaded models may hold at once (their weights): 'auto' (the largest candidate's, "
     "so peak memory is that of running it alone) or a size such as 2GB or 500MB; models used least "
     "recently are freed first. Only a race (--llm-race) keeps several loaded: a full run holds one "
     "at a time", "string", "auto"),
]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("llmselect", "pytest-llmselect: evaluate and select language models")
    for opt, ini, help_text, ini_type, default in OPTIONS:
        action = "append" if ini_type == "args" else "store"
        group.addoption(opt, action=action, dest=ini, default=None,
                        help=f"{with_default(help_text, default)} [ini: {ini}]")
        parser.addini(ini, help_text, type=ini_type, default=default)


def _benchmark_storage(config: pytest.Config) -> Path | None:
    """pytest-benchmark's file storage folder, or None for another kind of storage."""
    try:
        raw = str(config.getoption("benchmark_storage"))
    except ValueError:  # pytest-benchmark not loaded (-p no:benchmark)
        return None
    if "://" in raw and not raw.startswith("file://"):
        return None
    return Path(raw.removeprefix("file://")).expanduser().absolute()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    # Runs before pytest-benchmark's configure (trylast), which creates its storage folder
    # on every run; a run that saves nothing should not leave an empty one behind.
    storage = _benchmark_storage(config)
    if storage is not None and not storage.exists() and not hasattr(config, "workerinput"):
        config.stash[NEW_BENCHMARK_STORAGE] = storage
    try:
        settings = settings_from_config(config)
        if not hasattr(config, "workerinput") and not config.getoption("help", False):
            from pytest_llmselect.backends import check_served

            check_served(settings.candidates)  # an unreachable server is one line, before anything runs
    except LLMSelectError as exc:
        raise pytest.UsageError(str(exc)) from None
    llm_session = config.stash[SESSION_KEY] = LLMSession(config, settings)
    if settings.candidates:
        from pytest_llmselect.checks import ItemOrder

        config.pluginmanager.register(ItemOrder(), "llmselect-item-order")
        config.pluginmanager.register(InterruptedStop(llm_session), "llmselect-interrupted-stop")
        if llm_session.racing is not None:
            from pytest_llmselect.run.racing import RaceSkip

            config.pluginmanager.register(RaceSkip(llm_session, llm_session.racing), "llmselect-race-skip")
        from pytest_llmselect.run.xdist import XdistController, is_controller

        if is_controller(config):
            s = llm_session
            controller = XdistController(s.ledger, s.plan, s.pool, s.runner, s.log_state)
            config.pluginmanager.register(controller, "llmselect-xdist-controller")
            from pytest_llmselect.run.progress_relay import ProgressRelay

            config.pluginmanager.register(ProgressRelay(s.events, s.plan, controller.scopes),
                                          "llmselect-progress-relay")


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(SESSION_KEY, None)
    if session is not None:
        session.close()
    storage = config.stash.get(NEW_BENCHMARK_STORAGE, None)
    if storage is not None:
        try:
            storage.rmdir()  # only succeeds when empty: nothing saved, nothing lost
        except OSError:
            pass


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "llm" not in metafunc.fixturenames:
        return
    session = metafunc.config.stash.get(SESSION_KEY, None)
    if session is None or not session.settings.candidates:
        return  # pytest_collection_modifyitems makes this a usage error
    from pytest_llmselect.candidates import for_task

    cands = for_task(session.settings.candidates, _has_pool(metafunc))
    metafunc.parametrize("llm", cands, ids=[c.name for c in cands], indirect=True)


def _has_pool(metafunc: pytest.Metafunc) -> bool:
    """Whether the test's task declares a demonstration pool (``llm_task(demos=DemoPool(...))``)."""
    from pytest_llmselect.lmeval.plugin import ATTRIBUTE
    from pytest_llmselect.tasks import MARKER

    imported = getattr(metafunc.function, ATTRIBUTE, None)
    if imported is not None:  # an lmeval task, whose mark (and pool) its own hook adds during collection
        return getattr(imported, "demos", None) is not None
    marker = metafunc.definition.get_closest_marker(MARKER)
    return marker is not None and marker.kwargs.get("demos") is not None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    llm_session = config.stash.get(SESSION_KEY, None)
    if llm_session is not None and not llm_session.settings.candidates:
        _no_silent_green(config, items)
    if llm_session is None or not llm_session.settings.candidates:
        return
    from pytest_llmselect.checks import make_check_items, rerun_groups_of_failed_checks
    from pytest_llmselect.run.subset import cap_cases

    if llm_session.settings.max_cases is not None:
        cap_cases(config, items, llm_session.settings.max_cases)
    items[:] = make_check_items(llm_session.plan.order_items(items))
    rerun_groups_of_failed_checks(config, llm_session.plan, items)
    for item in items:
        # A task item's model work is benchmarked (timing.py), though not through the
        # `benchmark` fixture that --benchmark-only looks for: it must run, not be skipped.
        if candidate_of(item) is not None:
            item.own_markers[:] = [m for m in item.own_markers if not (
                m.name == "skip" and "--benchmark-only" in str(m.kwargs.get("reason", "")))]


def _no_silent_green(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that use the llm fixture with no candidate to run them on would all skip, and a
    CI job would pass having evaluated nothing: a usage error instead (exit 4). Collecting
    only (an IDE listing tests) is left alone."""
    if config.option.collectonly:
        return
    using = [item for item in items if "llm" in getattr(item, "fixturenames", ())]
    if hasattr(config, "workerinput"):
        return  # an xdist worker cannot end the session cleanly here: the llm fixture fails each test
    if using:
        raise pytest.UsageError(
            f"{len(using)} test(s) use the llm fixture (e.g. {using[0].nodeid}) but no candidates are "
            "configured: pass --llm-candidates=zoo:tiny,... or set the ini key llm_candidates")


def pytest_deselected(items: list[pytest.Item]) -> None:
    if not items:
        return
    llm_session = items[0].config.stash.get(SESSION_KEY, None)
    if llm_session is None or not llm_session.settings.candidates:
        return
    for item in items:
        try:
            llm_session.plan.attach(item)
        except pytest.UsageError:
            continue
        if candidate_of(item) is not None and isinstance(item, pytest.Function):
            llm_session.plan.deselected += 1


@pytest.hookimpl(tryfirst=True)  # before xdist's worker announces its collection to the controller
def pytest_collection_finish(session: pytest.Session) -> None:
    llm_session = session.config.stash.get(SESSION_KEY, None)
    if llm_session is None:
        return
    if llm_session.settings.candidates:
        llm_session.plan.set_plan(session.items)  # every case left after -k/-m/--lf is planned
    if hasattr(session.config, "workerinput"):
        from pytest_llmselect.run.xdist import write_scopes

        write_scopes(session.config, session.items,
                     {c.name: c.model_name for c in llm_session.settings.candidates})


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A candidate that cannot do what a case asks, or a request of the case that failed (a
    served model's, after its retries), fails it with one line, not a traceback through the
    plugin's own frames; and every case's outcome is accounted for (observe)."""
    report = yield
    from pytest_llmselect.errors import CapabilityError, RequestFailedError

    if call.excinfo is not None and call.excinfo.errisinstance((CapabilityError, RequestFailedError)):
        report.longrepr = f"{type(call.excinfo.value).__name__}: {call.excinfo.value}"
    llm_session = item.config.stash.get(SESSION_KEY, None)
    if llm_session is not None and llm_session.plan.cases:
        llm_session.ledger.observe(item, report, call.excinfo)
        from pytest_llmselect.run.one_cause import condense_capability_error

        condense_capability_error(item, report, call.excinfo, llm_session.plan.cases.get(item.nodeid))
    return report


@pytest.hookimpl(tryfirst=True)  # before the loop of pytest or of an xdist worker runs the first item
def pytest_runtestloop(session: pytest.Session) -> None:
    """Start-up (torch, the header line, the zoo build) before the first item runs."""
    llm_session = session.config.stash.get(SESSION_KEY, None)
    if llm_session is not None and llm_session.settings.candidates:
        llm_session.start(session)


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    llm_session = item.config.stash.get(SESSION_KEY, None)
    if llm_session is not None:
        llm_session.after_item(item, nextitem)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    llm_session = config.stash.get(SESSION_KEY, None)
    if llm_session is None or hasattr(config, "workerinput"):
        return
    if config.option.collectonly:  # nothing ran (IDEs collect all the time): no report, no stored run
        llm_session.pool.release()
        return
    try:
        from pytest_llmselect.run.finish import build_session_report, stop_reason, truncation_warnings, write_reports

        llm_session.follow_up_timing(session, exitstatus, stop_reason(session, exitstatus))
        llm_session.pool.release()
        if llm_session.records:
            llm_session.log_state()
        from pytest_llmselect.timing import hide_llm_benchmark_tables

        events = llm_session.events
        if events.logged_anything:  # with what never ran: a report rebuilt from the log says so
            events.log_event("finish", {"exitstatus": int(exitstatus),
                                        "missing": llm_session.ledger.missing(stop_reason(session, exitstatus))})
        if not llm_session.records and not llm_session.plan.cases:
            return
        if not llm_session.records and not llm_session.pool.load_errors and exitstatus in (
                pytest.ExitCode.INTERRUPTED, pytest.ExitCode.USAGE_ERROR):
            # Stopped before any case ran (a usage or collection error, Ctrl-C at once): a report of nothing
            # but "not run" would bury the one line that matters and overwrite the last real one.
            llm_session.warnings.append("no case ran before the session stopped: no report written")
            return

        if config.get_verbosity() <= 0:
            hide_llm_benchmark_tables(config)  # the report shows these timings; -v shows their tables too
        llm_session.report = build_session_report(llm_session, stop_reason(session, exitstatus))
        llm_session.warnings.extend(truncation_warnings(llm_session.report))
        write_reports(llm_session, config)
    except Exception as exc:  # session end never raises: pytest's own summary must survive
        llm_session.report_errors.append(("(report)", f"{type(exc).__name__}: {exc}"))
    if llm_session.report_errors and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED  # a report asked for and not written fails the job


@pytest.hookimpl(trylast=True)  # after other plugins' summaries: a CI log ends on the decision
def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    llm_session = config.stash.get(SESSION_KEY, None)
    if llm_session is None:
        return
    tr = terminalreporter
    from pytest_llmselect.run.one_cause import repeated_causes

    for line in dict.fromkeys([*repeated_causes(config).lines(), *llm_session.warnings]):
        tr.write_line(f"llmselect: warning: {line}", yellow=True)
    for path, error in llm_session.report_errors:
        tr.write_line(f"llmselect: ERROR cannot write the report {path}: {error}", red=True)
    for path in llm_session.written:
        tr.write_line(f"llmselect: wrote {path}")
    if llm_session.report is None:
        return
    from pytest_llmselect.report import render_terminal

    tr.write_sep("=", "LLM selection report")
    try:
        tr.write_line(render_terminal(llm_session.report, verbose=config.get_verbosity() > 0).rstrip("\n"))
    except Exception as exc:  # never lose pytest's own summary to a rendering fault
        tr.write_line(f"llmselect: could not render the report: {type(exc).__name__}: {exc}", red=True)
