"""Session end: turn the session's records and measurements into the report and write it."""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import platform
import sys
from typing import Any

import pytest

from pytest_llmselect import __version__
from pytest_llmselect.accounting import is_raced_out
from pytest_llmselect.analysis import SCHEMA_VERSION, AnalysisSettings, analyze
from pytest_llmselect.run.inputs import session_inputs
from pytest_llmselect.run.racing import race_report
from pytest_llmselect.run.session import LLMSession


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(), "python": platform.python_version(),
        "cpu_count": os.cpu_count(), "torch": None, "cuda": None,
    }
    if hasattr(os, "getloadavg"):
        info["load_average_1min"] = round(os.getloadavg()[0], 2)  # at the end of the run
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["cuda"] = torch.cuda.get_device_name(0)
    return info


def energy_info(s: LLMSession) -> dict[str, Any]:
    """Which energy counter served each device, or plainly why there was none."""
    devices = {}
    for device, (counter, why) in sorted(s.runner.energy_counters.items()):
        devices[device] = {"available": counter is not None,
                           "source": counter.source if counter is not None else None,
                           "reason": None if counter is not None else why}
    return {"available": any(d["available"] for d in devices.values()), "devices": devices}


def suite_fingerprint(records: list[dict[str, Any]]) -> str:
    h = hashlib.sha256()
    for task, case in sorted({(r["task"], r["case_id"]) for r in records}):
        h.update(f"{task}\0{case}\n".encode())
    return h.hexdigest()[:16]


def stop_reason(session: pytest.Session, exitstatus: int | pytest.ExitCode) -> str:
    """Why planned cases that have no record did not run, as the report states it."""
    if exitstatus == pytest.ExitCode.INTERRUPTED or session.shouldstop or session.shouldfail:
        return "not run: the session stopped early (Ctrl-C, -x or --maxfail)"
    if getattr(session.config.option, "numprocesses", None):
        return "not run: its pytest -n worker crashed or stopped"
    return "not run"


def truncation_warnings(report: dict[str, Any]) -> list[str]:
    """One warning per (task, candidate) whose prompts did not fit the model's context window."""
    return [f"task {t['name']!r}, {r['candidate']}: {r['n_truncated']} case(s) had prompts longer than the "
            f"model's context window; {r['truncated_tokens']} token(s) were dropped from the left "
            "(--llm-truncation=error fails such cases instead)"
            for t in report.get("tasks") or [] for r in t.get("results") or [] if r.get("n_truncated")]


def subset_info(s: LLMSession) -> dict[str, Any] | None:
    """How the cases of this run were chosen when not all collected ones ran, else None."""
    opt, cap = s.config.option, s.settings.max_cases
    filters = {k: v for k, v in (("-k", getattr(opt, "keyword", "")), ("-m", getattr(opt, "markexpr", "")),
                                 ("--lf", bool(getattr(opt, "lf", False))),
                                 ("--sw", bool(getattr(opt, "stepwise", False))),
                                 # filter values are text, as -k's are
                                 ("--llm-max-cases", None if cap is None else str(cap))) if v}
    if not filters and not s.plan.deselected:
        return None
    return {"deselected": s.plan.deselected, "filters": filters}


def lost_to_crashes(s: LLMSession) -> dict[str, Any]:
    """``crashed``: the cases that killed their xdist worker (one entry each); they are also
    among ``missing`` with the reason "worker crashed" (run.records.Ledger.missing)."""
    return {"crashed": list(s.ledger.crashed)} if s.ledger.crashed else {}


def build_session_report(s: LLMSession, stop: str = "not run") -> dict[str, Any]:
    inputs = session_inputs(s, stop)
    extra = {"constraints": s.settings.constraints} if s.settings.constraints is not None else {}
    derived = analyze(inputs, AnalysisSettings(alpha=s.settings.alpha, level=s.settings.level,
                                               seed=s.settings.seed, errors=s.settings.errors,
                                               cost_model=s.settings.cost_model, **extra))
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "pytest-llmselect", "version": __version__},
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        # A finished race leaves its raced-out cases missing by design: still complete.
        "complete": not [m for m in inputs["missing"] if not is_raced_out(m.get("reason"))],
        "missing": inputs["missing"],
        "subset": subset_info(s),
        "run_id": s.events.run_id,
        "machine": machine_info(),
        "energy": energy_info(s),
        "suite": {"fingerprint": suite_fingerprint(s.records),
                  "paths": [str(a) for a in s.config.args]},
        **derived,
        "candidates": inputs["candidates"],
        "cases": inputs["cases"],
        **lost_to_crashes(s),
        **evaluation_cost(s),
        **({"race": race_report(s, s.racing)} if s.racing is not None else {}),
    }


def evaluation_cost(s: LLMSession) -> dict[str, Any]:
    """What the judges cost, apart from the candidates' cost; absent when no judge ran."""
    costs = s.pool.judges.report(s.settings)
    return {"evaluation_cost": costs} if costs else {}


def write_reports(s: LLMSession, config: pytest.Config) -> None:
    from pytest_llmselect.report import write_report

    assert s.report is not None
    for path in s.settings.reports:
        target = path if path.is_absolute() else config.invocation_params.dir / path
        try:
            write_report(s.report, target)
        except OSError as exc:  # one bad report path must not lose the others
            # strerror, not str(exc): the latter names the temporary file, not the report asked for
            s.report_errors.append((str(path), exc.strerror or type(exc).__name__))
        except Exception as exc:  # noqa: BLE001
            s.report_errors.append((str(path), f"{type(exc).__name__}: {exc}"))
        else:
            s.written.append(str(path))
