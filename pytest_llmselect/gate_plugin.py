"""pytest11 entry point of the CI gate: ``--llm-save`` stores runs, ``--llm-baseline`` compares.

The gate adds one item per (task, candidate) group at the end of the run,
``llm_gate[<task>-<candidate>]``, so verdicts show up in ``-rA`` and JUnit XML:

- PASS passes (the verdict line is printed, so ``-rA``/``-rP`` show it under PASSES);
- FAIL fails with a one-line message;
- INCONCLUSIVE is *skipped* with the verdict line as the reason (a skip is the outcome
  that says "not decided" in both ``-rA`` and JUnit, where it carries the message), and
  fails instead under ``--llm-strict``.

Bad gate input (an unreadable or foreign baseline, a negative margin, an unknown
incumbent) never costs the evaluation: the run goes ahead and writes its reports and
stored run, and a single ``llm_gate[baseline]`` item fails with the one-line error, so
the exit code is non-zero. The error is also shown in the header before models load.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_llmselect.option_help import with_default

from pytest_llmselect.errors import LLMSelectError, SpecError
from pytest_llmselect.gate import GateResult, GateSettings, compare_runs, resolve_incumbent, verdict_line
from pytest_llmselect.run.session import SESSION_KEY

# (option, ini key, help, ini type, ini default); the group is plugin.py's, so `pytest --help`
# lists every pytest-llmselect option together.
OPTIONS: list[tuple[str, str, str, str, Any]] = [
    ("--llm-save", "llm_save",
     "store this run as the next numbered run file in the storage folder, named NAME (default 'run')",
     "string", ""),
    ("--llm-storage", "llm_storage", "folder of stored runs, relative to the rootdir", "string", ".llmselect/runs"),
    ("--llm-baseline", "llm_baseline",
     "gate against a baseline run: a run report file, a stored run number (3, 0003), a stored run name, "
     "or 'latest'", "string", ""),
    ("--llm-incumbent", "llm_incumbent",
     "the baseline candidate to compare with (default: the baseline's selected candidate)", "string", ""),
    ("--llm-margin", "llm_margin",
     "non-inferiority margin: how much lower quality (in the metric's units) still passes", "string", "0.02"),
    ("--llm-max-cost-ratio", "llm_max_cost_ratio",
     "fail a candidate whose cost per case is more than this times the incumbent's (default: no budget)",
     "string", ""),
    ("--llm-strict", "llm_strict", "an INCONCLUSIVE gate verdict fails too", "bool", False),
    ("--llm-summary", "llm_summary",
     "also write the gate's Markdown summary to this file ($GITHUB_STEP_SUMMARY is appended to when set)",
     "string", ""),
]


@dataclass
class GateState:
    """Gate configuration and outcome for one session (kept in ``config.stash``)."""

    storage: Path
    save_name: str | None = None
    summary: Path | None = None
    requested: bool = False             # a baseline (or an incumbent) was asked for
    settings: GateSettings | None = None
    baseline: dict[str, Any] | None = None
    baseline_label: str = ""
    incumbent: str | None = None        # as given; None: the baseline's selection
    error: str | None = None            # bad gate input, known before the run
    run_error: str | None = None        # found when comparing (e.g. no shared cases)
    compared_at: int | None = None      # how many records the last comparison saw
    error_reported_by: str | None = None
    result: GateResult | None = None
    items_ran: bool = False
    saved: Path | None = None
    written: list[str] = field(default_factory=list)
    write_errors: list[str] = field(default_factory=list)


GATE_KEY = pytest.StashKey[GateState]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("llmselect", "pytest-llmselect: evaluate and select language models")
    for opt, ini, help_text, ini_type, default in OPTIONS:
        kwargs: dict[str, Any] = {"dest": ini, "default": None,
                                  "help": f"{with_default(help_text, default)} [ini: {ini}]"}
        if ini_type == "bool":
            kwargs["action"] = "store_true"
        elif opt == "--llm-save":
            kwargs.update(nargs="?", const="run", metavar="NAME")
        group.addoption(opt, **kwargs)
        parser.addini(ini, help_text, type=ini_type, default=default)


def _value(config: pytest.Config, key: str) -> Any:
    cli = config.getoption(key)
    return cli if cli is not None else config.getini(key)


def _float(raw: Any, opt: str) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise SpecError(f"{opt} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise SpecError(f"{opt} must be a finite number, got {raw!r}")
    return value


def _settings(config: pytest.Config) -> GateSettings:
    llm = config.stash.get(SESSION_KEY, None)
    ratio = _value(config, "llm_max_cost_ratio")
    return GateSettings(
        margin=_float(_value(config, "llm_margin"), "--llm-margin"),
        max_cost_ratio=_float(ratio, "--llm-max-cost-ratio") if str(ratio).strip() else None,
        level=llm.settings.level if llm is not None else 0.95,
        strict=bool(_value(config, "llm_strict")),
        seed=llm.settings.seed if llm is not None else 0,
    )


def _label(path: Path, report: dict[str, Any], cwd: Path) -> str:
    try:
        shown = os.fspath(path.resolve().relative_to(cwd.resolve()))
    except ValueError:
        shown = os.fspath(path)
    saved = report.get("saved")
    if isinstance(saved, dict) and "number" in saved:
        return f"{shown} (stored run {int(saved['number']):04d} {saved.get('name', '')!r})"
    return shown


def _configure(config: pytest.Config, state: GateState) -> None:
    from pytest_llmselect.storage import check_name, resolve_baseline
    from pytest_llmselect.report.jsonio import load_report

    cwd = config.invocation_params.dir
    save = _value(config, "llm_save")
    summary = _value(config, "llm_summary")
    state.summary = (cwd / summary) if summary else None
    spec = str(_value(config, "llm_baseline") or "").strip()
    state.incumbent = str(_value(config, "llm_incumbent") or "").strip() or None
    state.requested = bool(spec or state.incumbent)
    if save:
        state.save_name = check_name(save)
    state.settings = _settings(config)
    if state.incumbent and not spec:
        raise SpecError(f"--llm-incumbent {state.incumbent!r} needs --llm-baseline: the run to find it in")
    if not spec:
        return
    path = resolve_baseline(spec, state.storage, base_dir=cwd)
    state.baseline_label = os.fspath(path)
    baseline = load_report(path)
    state.baseline_label = _label(path, baseline, cwd)
    resolve_incumbent(baseline, state.incumbent, state.baseline_label)
    state.baseline = baseline


@pytest.hookimpl(trylast=True)  # after plugin.py's configure: the gate reads its level and seed
def pytest_configure(config: pytest.Config) -> None:
    storage = str(_value(config, "llm_storage") or ".llmselect/runs")
    state = GateState(storage=Path(str(config.rootpath)) / storage)
    config.stash[GATE_KEY] = state
    save = _value(config, "llm_save")
    if save:  # a name that cannot be a file name is a typo (`--llm-save suites/`): refused before anything runs
        from pytest_llmselect.storage import check_name

        try:
            check_name(save)
        except LLMSelectError as exc:
            raise pytest.UsageError(str(exc)) from None
    try:
        _configure(config, state)
    except LLMSelectError as exc:
        # Not a UsageError: the evaluation still runs and writes its results (the run is often
        # what becomes the next baseline); the gate reports this one error and fails the job.
        state.error = str(exc)
        state.requested = True


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = config.stash.get(GATE_KEY, None)
    if state is None or not state.requested:
        return []
    if state.error:
        return [f"llmselect gate: ERROR {state.error} (the run goes ahead; the gate will fail)"]
    assert state.settings is not None and state.baseline is not None
    inc = resolve_incumbent(state.baseline, state.incumbent, state.baseline_label)
    s = state.settings
    budget = f", max cost ratio {s.max_cost_ratio:g}" if s.max_cost_ratio is not None else ""
    return [f"llmselect gate: baseline {state.baseline_label}, incumbent {inc}, margin {s.margin:g}{budget}"
            + (", strict" if s.strict else "")]


# ---- the gate items ------------------------------------------------------------------------


class GateFailed(Exception):
    """A FAIL verdict (or a gate error); the message is the whole report of the item."""


class LLMGateItem(pytest.Item):
    def __init__(self, *, task: str | None, candidate: str | None, where: tuple[Any, int | None],
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.task = task
        self.candidate = candidate
        self._where = where

    def runtest(self) -> None:
        state = self.config.stash[GATE_KEY]
        state.items_ran = True
        if state.error is not None:
            raise GateFailed(f"ERROR {state.error}")
        assert self.task is not None and self.candidate is not None and state.settings is not None
        if not self.config.stash[SESSION_KEY].ledger.estimate_scores(self.task, self.candidate):
            where = " on this pytest -n worker (the controller's gate summary has it)" \
                if hasattr(self.config, "workerinput") else ""
            pytest.skip(f"no case of {self.task!r} was recorded for {self.candidate}{where}: nothing to compare")
        result = _ensure_result(state, self.config)
        if result is None:
            if state.error_reported_by is None:
                state.error_reported_by = self.nodeid
                raise GateFailed(f"ERROR {state.run_error}")
            pytest.skip(f"gate error, reported by {state.error_reported_by}")
        v = result.find(self.task, self.candidate)
        assert v is not None, "compare_runs judges every (task, candidate) with a recorded case"
        from pytest_llmselect.report.terminal import inert

        line = inert(verdict_line(v, state.settings))  # names and case ids come from users
        self.user_properties.extend([
            ("llm_gate_verdict", v.verdict), ("llm_gate_diff", v.diff), ("llm_gate_lo", v.lo),
            ("llm_gate_hi", v.hi), ("llm_gate_p_value", v.p_value), ("llm_gate_n_shared", v.n_shared),
            ("llm_gate_cost_ratio", v.cost_ratio), ("llm_gate_cases_needed", v.cases_needed),
        ])
        if result.partial and state.settings.strict:
            raise GateFailed(line + " -- " + "; ".join(result.partial) + " (fails under --llm-strict)")
        if v.verdict == "PASS":
            print(line)  # a pass has no message: -rA / -rP show this under PASSES (JUnit: system-out)
        if v.verdict == "FAIL":
            raise GateFailed(line)
        if v.verdict == "INCONCLUSIVE":
            if state.settings.strict:
                raise GateFailed(line + " (INCONCLUSIVE fails under --llm-strict)")
            if self._where[1] is None:  # pytest cannot report a skip at a location without a line
                pytest.skip(line)
            _skip_here(line)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, GateFailed):
            from pytest_llmselect.report.terminal import inert

            return inert(str(excinfo.value))
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        path, line = self._where
        return path, line, self.name  # section headers then read "llm_gate[add-zoo:small]"


def _skip_here(reason: str) -> None:
    # Report the skip at the task's test function, not inside this plugin: pytest's own
    # skip marker does the same through this (keyword-only, stable since pytest 7) flag.
    try:
        exc: BaseException = pytest.skip.Exception(reason, _use_item_location=True)  # type: ignore[call-arg]
    except TypeError:  # a pytest without the flag: the skip is reported here instead
        exc = pytest.skip.Exception(reason)
    raise exc


def _ensure_result(state: GateState, config: pytest.Config, report: dict[str, Any] | None = None) -> GateResult | None:
    """Compare on the first gate item, again only if records arrived since: under pytest -n a
    worker may run one candidate's gate items before its next candidate's cases, and the
    controller only has the workers' records at session end."""
    records = len(config.stash[SESSION_KEY].records)
    if state.compared_at == records:
        return state.result
    assert state.baseline is not None and state.settings is not None
    state.compared_at, state.result, state.run_error = records, None, None
    try:
        if report is None:
            from pytest_llmselect.run.finish import build_session_report

            report = build_session_report(config.stash[SESSION_KEY])
        state.result = compare_runs(state.baseline, report, state.settings, state.incumbent,
                                    baseline_label=state.baseline_label)
    except LLMSelectError as exc:
        state.run_error = str(exc)
    return state.result


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> Any:
    # A wrapper, so this runs after every plain implementation: after -k/-m deselection and after
    # plugin.py's (trylast) ordering, whose groups it needs. Gate items go last: they read all records.
    outcome = yield
    state = config.stash.get(GATE_KEY, None)
    if state is not None and state.requested:
        items.extend(_gate_items(state, items))
    return outcome


def _gate_items(state: GateState, items: list[pytest.Item]) -> list[pytest.Item]:
    from pytest_llmselect.run.plan import candidate_of, task_of

    last: dict[tuple[str, str], pytest.Item] = {}
    for item in items:
        cand, task = candidate_of(item), task_of(item)
        # Anchor at the group's last case (a test function with a line), not at a check item.
        if cand is not None and task is not None and isinstance(item, pytest.Function):
            last[(task.name, cand.name)] = item
    if not last:
        return []  # nothing is evaluated in this session: nothing to gate
    if state.error is not None:
        anchor = list(last.values())[-1]
        return [LLMGateItem.from_parent(anchor.parent, name="llm_gate[baseline]", task=None, candidate=None,
                                        where=_where(anchor))]
    return [LLMGateItem.from_parent(it.parent, name=f"llm_gate[{task}-{cand}]", task=task, candidate=cand,
                                    where=_where(it))
            for (task, cand), it in last.items()]


def _where(item: pytest.Item) -> tuple[Any, int | None]:
    path, line, _ = item.reportinfo()
    return path, line


# ---- session end: store the run, write the summary ------------------------------------------


@pytest.hookimpl(trylast=True)  # after plugin.py's sessionfinish has built session.report
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    state = config.stash.get(GATE_KEY, None)
    if state is None or hasattr(config, "workerinput"):
        return
    llm = config.stash.get(SESSION_KEY, None)
    report = llm.report if llm is not None else None
    if state.save_name and report is not None:
        from pytest_llmselect.storage import save_run

        try:
            state.saved = save_run(report, state.storage, state.save_name)
        except OSError as exc:  # keep going: the summary must still be written
            # strerror, not str(exc), which names a temporary or lock file instead of the folder
            state.write_errors.append(f"ERROR cannot store the run in {state.storage}: "
                                      f"{exc.strerror or type(exc).__name__}")
        except Exception as exc:  # noqa: BLE001
            state.write_errors.append(f"ERROR cannot store the run in {state.storage}: {type(exc).__name__}: {exc}")
    evaluated = report is not None and bool(report.get("cases"))
    if state.requested and state.error is None and not evaluated:
        # A gate that compared nothing must not pass: the candidate list or -k came out empty.
        state.run_error = "this run evaluated no case, so there is nothing to gate against the baseline"
        if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if state.requested and (state.items_ran or report is not None):
        if state.error is None and report is not None:
            _ensure_result(state, config, report)
        _write_summary(state)
        gate_failed = state.error is not None or state.run_error is not None or (
            state.result is not None and state.result.failed)
        if gate_failed and not state.items_ran and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # the items did not run (-n, -x): fail here
    if state.write_errors and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED  # a CI job must not lose its stored run silently


def _write_summary(state: GateState) -> None:
    from pytest_llmselect.report.gate_markdown import render_gate_error, render_gate_markdown

    error = state.error or state.run_error
    text = render_gate_error(error, state.baseline_label or None) if error else (
        render_gate_markdown(state.result) if state.result is not None else None)
    if text is None:
        return
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    targets: list[tuple[Path, str]] = []
    if step_summary:
        targets.append((Path(step_summary), "a"))  # other steps write there too: append
    if state.summary is not None:
        targets.append((state.summary, "w"))
    for path, mode in targets:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, mode, encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            state.write_errors.append(f"could not write the gate summary {path}: {exc}")
        else:
            state.written.append(os.fspath(path))


@pytest.hookimpl(trylast=True)  # after the selection report
def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(GATE_KEY, None)
    if state is None:
        return
    from pytest_llmselect.report.terminal import inert

    tr = terminalreporter
    if state.requested and (state.result or ((state.error or state.run_error) and not state.items_ran)):
        tr.write_sep("=", "LLM gate")
        if state.error or state.run_error:
            if not state.items_ran:  # else the failed gate item has shown it already
                tr.write_line(inert(f"ERROR {state.error or state.run_error}"), red=True)
        elif state.result is not None and state.settings is not None:
            res = state.result
            tr.write_line(inert(f"gate {res.verdict} against {res.baseline} (incumbent {res.incumbent})"),
                          red=res.failed, green=res.verdict == "PASS", yellow=res.verdict == "INCONCLUSIVE")
            for v in res.verdicts:
                tr.write_line(inert(verdict_line(v, state.settings)))
            for note in res.notes:
                tr.write_line(inert(f"note: {note}"))
    if state.saved is not None:
        tr.write_line(f"llmselect: stored this run as {state.saved}")
    for path in state.written:
        tr.write_line(f"llmselect: wrote the gate summary to {path}")
    for problem in state.write_errors:
        tr.write_line(f"llmselect: {problem}", red=True)
