"""Timing that follows the decision: at session end, before the report, the groups whose
cost can change a pick (``timing_need.groups_to_retime`` on a first analysis of the run) run
their model work again for more timed rounds; every other group keeps its one timed pass.

Each such group's requests run in full, its cached answers included (the cache gave the
answers; the timing needs the model), ``AUTO_ROUNDS`` rounds in all counting the first pass.
Its ``round_seconds`` become the first pass's model seconds followed by the new rounds,
``model_seconds`` their mean, and ``timing_rounds_reason`` says why. Where the response cache
holds the group's answers without rounds, it keeps each round's factor, so a cached re-run
rebuilds the same rounds instead of timing again.
"""

from __future__ import annotations

from typing import Any, Protocol

from pytest_llmselect.engine import RequestFailed
from pytest_llmselect.run.events import RunEvents
from pytest_llmselect.run.plan import Plan
from pytest_llmselect.run.pool import ModelPool
from pytest_llmselect.run.records import Ledger
from pytest_llmselect.run.runner import Runner
from pytest_llmselect.run.settings import AUTO_ROUNDS, Settings
from pytest_llmselect.timing_need import TimingNeed, groups_to_retime


class LLMSession(Protocol):
    """What timing again needs of a session (``run.session.LLMSession`` has it)."""

    config: Any
    settings: Settings
    events: RunEvents
    plan: Plan
    pool: ModelPool
    runner: Runner
    ledger: Ledger

    def log_state(self) -> None: ...


def retimable(s: LLMSession) -> set[tuple[str, str]]:
    """The groups one timed round measured that more rounds could measure again."""
    out = set()
    for key, group in s.plan.groups.items():
        m, cand = group.measures, group.candidate
        if (m.requests and len(m.round_seconds) < 2 and cand.name not in s.pool.load_errors
                and s.settings.retimable(cand) and any(not isinstance(r, RequestFailed) for r in group.cache.values())):
            out.add(key)
    return out


def needs(s: LLMSession, stop: str) -> list[TimingNeed]:
    """The groups to time again, from a first analysis of the run as it stands."""
    from pytest_llmselect.analysis import AnalysisSettings, analyze
    from pytest_llmselect.run.inputs import session_inputs

    candidates = retimable(s)
    if not candidates:
        return []
    extra = {"constraints": s.settings.constraints} if s.settings.constraints is not None else {}
    derived = analyze(session_inputs(s, stop), AnalysisSettings(
        alpha=s.settings.alpha, level=s.settings.level, seed=s.settings.seed, errors=s.settings.errors,
        cost_model=s.settings.cost_model, n_resamples=200, **extra))
    return groups_to_retime(derived["tasks"], derived.get("overall"), candidates)


def follow_up(s: LLMSession, stop: str = "not run") -> list[TimingNeed]:
    """Time again the groups whose cost can change a pick; returns them (done or tried)."""
    todo = needs(s, stop)
    if not todo:
        return []
    progress = s.events.progress
    progress.header(f"timing again: {len(todo)} group(s) whose cost can change the pick, "
                    f"{AUTO_ROUNDS} rounds in all (--llm-benchmark-rounds=N times every group N times)")
    order = {c.name: i for i, c in enumerate(s.settings.candidates)}
    for need in sorted(todo, key=lambda n: (order.get(n.candidate, 0), n.task)):  # one load per model
        group = s.plan.groups[(need.task, need.candidate)]
        try:
            backend = s.pool.backend_for(group.candidate)
            rounds = _time_again(s, group, backend)
        except Exception as exc:  # noqa: BLE001  the first pass's figures stand; the reason is said
            s.events.warnings.append(f"timing again {need.task} · {need.candidate} failed "
                                     f"({type(exc).__name__}: {exc}); its one timed round stands")
            continue
        m = group.measures
        first = m.model_seconds
        m.round_seconds = [first, *rounds]
        m.model_seconds = sum(m.round_seconds) / len(m.round_seconds)
        m.timing_rounds_reason = need.reason
        s.events.log_event("retimed", {"task": need.task, "candidate": need.candidate,
                                       "round_seconds": list(m.round_seconds), "reason": need.reason})
        progress.note(f"{need.task} · {need.candidate}: {len(m.round_seconds)} timed rounds "
                      f"({', '.join(f'{x:.2f}' for x in m.round_seconds)} s), {need.reason}")
    s.pool.release()
    s.log_state()
    return todo


def _time_again(s: LLMSession, group: Any, backend: Any) -> list[float]:
    """Seconds of each further round of ``group``'s model work (its answered requests)."""
    requests = [r for r, res in group.cache.items() if not isinstance(res, RequestFailed)]
    rounds = s.runner.time_again(group.candidate, backend, requests, AUTO_ROUNDS - 1, group.measures)
    _keep_factors(s, group, backend, requests, [group.measures.model_seconds, *rounds])
    return rounds


def _keep_factors(s: LLMSession, group: Any, backend: Any, requests: list[Any], rounds: list[float]) -> None:
    """Where the cache holds this group's answers without rounds, keep each round's factor on
    the first pass, so a cached re-run has the rounds (``engine.Measures.add_cached``)."""
    if rounds[0] <= 0:
        return
    hits, store = s.runner.cached(group.candidate, backend, requests)
    if store is None or not hits or any(h.round_factors for h in hits.values()):
        return
    store.batch_ids = sorted({h.batch_id for h in hits.values()})
    store.rounds([r / rounds[0] for r in rounds])
