"""Racing (``--llm-race``): a scheduling policy that runs each task in stages over one seeded
case order shared by all candidates, and drops a candidate once the race rule (``race.py``)
finds it significantly worse than the leader; its remaining cases are skipped, each ending
not run with the reason "raced out after n cases".

Three parts, each given what it needs:

- ``Racing`` (the ``Scheduling`` policy, given to ``Plan``): the stage order, which items
  complete a stage, the batch scope of a stage (the runner batches one stage of a group at a
  time), and who was raced out.
- ``RaceJudge`` (made by the session once the ledger exists): after each stage, the losses and
  costs so far into ``race.decide_stage``; the drops are said as progress lines and in the run log.
- ``RaceSkip`` (registered with the plugin manager): a raced-out candidate's items are skipped
  at setup, before any fixture loads its model.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence

import pytest

from pytest_llmselect.accounting import RACED_OUT, effective_scores
from pytest_llmselect.candidates import Candidate
from pytest_llmselect.race import GUARANTEE, Drop, RaceSetting, decide_stage, stage_sizes
from pytest_llmselect.run.events import RunEvents
from pytest_llmselect.run.plan import Plan
from pytest_llmselect.run.pool import ModelPool
from pytest_llmselect.run.records import Ledger
from pytest_llmselect.run.settings import Settings
from pytest_llmselect.tasks import TaskSpec


class LLMSession(Protocol):
    """What the race needs of a session (``run.session.LLMSession`` has it)."""

    settings: Settings
    events: RunEvents
    plan: Plan
    pool: ModelPool
    ledger: Ledger

    def figures(self, task: str, candidate: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class RacedOut:
    task: str
    candidate: str
    cases: int      # the cases its figures rest on (run before it was dropped)
    stage: int      # the stage after which it was dropped (1-based)
    leader: str
    reason: str     # "worse than LEADER" or "below min_quality"
    lower: float    # the anytime-valid lower bound of its objective gap (objective units)

    @property
    def not_run_reason(self) -> str:
        return f"{RACED_OUT}{self.cases} cases"


class Racing:
    """Stages of each task's cases in one seeded random order; in a stage, each candidate's
    items together (configurations of one model next to each other, so one load serves them),
    the candidates in their given order in even stages and backwards in odd ones."""

    def __init__(self, setting: RaceSetting, seed: int, candidates: Sequence[Candidate],
                 candidate_of: Callable[[pytest.Item], Candidate | None],
                 task_of: Callable[[pytest.Item], TaskSpec | None],
                 case_id_of: Callable[[pytest.Item, Candidate], str]) -> None:
        self.setting = setting
        self.seed = seed
        first_of_model: dict[str, int] = {}
        for i, c in enumerate(candidates):
            first_of_model.setdefault(c.model_name, i)
        self.rank = {c.name: (first_of_model[c.model_name], i) for i, c in enumerate(candidates)}
        self.candidate_of, self.task_of, self.case_id_of = candidate_of, task_of, case_id_of
        self.stages: dict[str, list[list[str]]] = {}           # task -> stages -> case ids, race order
        self.stage_of: dict[str, tuple[str, int]] = {}          # nodeid -> (task, stage)
        self.pending: dict[tuple[str, int], set[str]] = {}      # (task, stage) -> node ids still to finish
        self.scope: dict[tuple[str, int, str], set[str]] = {}   # (task, stage, candidate) -> its node ids
        self.decided: set[tuple[str, int]] = set()
        self.dropped: dict[tuple[str, str], RacedOut] = {}
        self.leaders: dict[str, str] = {}
        # Set by the session once the ledger exists (RaceJudge.decide): the drops after a stage.
        self.decide: Callable[[str, int], list[RacedOut]] | None = None

    def order(self, items: Sequence[pytest.Item]) -> list[pytest.Item]:
        plain = [it for it in items if self.candidate_of(it) is None or self.task_of(it) is None]
        by_task: dict[str, list[pytest.Item]] = {}
        for it in items:
            task = self.task_of(it)
            if self.candidate_of(it) is not None and task is not None:
                by_task.setdefault(task.name, []).append(it)
        out = list(plain)
        for task, its in by_task.items():
            ids = list(dict.fromkeys(self.case_id_of(it, self.candidate_of(it)) for it in its))  # type: ignore[arg-type]
            random.Random(f"llm-race:{self.seed}:{task}").shuffle(ids)
            position = {cid: i for i, cid in enumerate(ids)}
            bounds, start = [], 0
            for size in stage_sizes(len(ids), self.setting):
                bounds.append((start, start + size))
                start += size
            self.stages[task] = [ids[a:b] for a, b in bounds]
            stage_at = {cid: k for k, (a, b) in enumerate(bounds) for cid in ids[a:b]}

            def key(it: pytest.Item) -> tuple[int, tuple[int, int], int]:
                cand = self.candidate_of(it)
                assert cand is not None
                cid = self.case_id_of(it, cand)
                stage = stage_at[cid]
                first, i = self.rank.get(cand.name, (1 << 30, 0))
                # Every other stage runs the candidates backwards: the model a stage ended with
                # (still loaded) starts the next, and what --llm-max-memory keeps is used next.
                rank = (first, i) if stage % 2 == 0 else (-first, -i)
                return stage, rank, position[cid]

            for it in sorted(its, key=key):
                cand = self.candidate_of(it)
                assert cand is not None
                stage = stage_at[self.case_id_of(it, cand)]
                self.stage_of[it.nodeid] = (task, stage)
                self.pending.setdefault((task, stage), set()).add(it.nodeid)
                self.scope.setdefault((task, stage, cand.name), set()).add(it.nodeid)
                out.append(it)
        return out

    def restrict(self, keep: set[str]) -> None:
        """Only ``keep`` runs (after -k/-m/--lf): a stage is complete without the others."""
        for pending in self.pending.values():
            pending &= keep
        for members in self.scope.values():
            members &= keep

    def batch_scope(self, item: pytest.Item) -> set[str] | None:
        """The node ids batched with ``item``'s: its candidate's items of its stage."""
        where = self.stage_of.get(item.nodeid)
        cand = self.candidate_of(item)
        if where is None or cand is None:
            return None
        return self.scope.get((where[0], where[1], cand.name), set())

    def raced_out(self, item: pytest.Item) -> RacedOut | None:
        cand, task = self.candidate_of(item), self.task_of(item)
        if cand is None or task is None:
            return None
        return self.dropped.get((task.name, cand.name))

    def mark_complete(self, item: pytest.Item) -> None:
        where = self.stage_of.get(item.nodeid)
        if where is None:
            return
        pending = self.pending.get(where)
        if pending is None:
            return
        pending.discard(item.nodeid)
        if not pending and where not in self.decided and self.decide is not None:
            self.decided.add(where)
            for out in self.decide(*where):
                self.dropped[(out.task, out.candidate)] = out

    def keep_model(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool:
        """Kept while items follow: the next stage comes back to it, and the pool frees the least
        recently used models only when the next load would not fit ``--llm-max-memory``."""
        return nextitem is not None


class RaceJudge:
    """After each stage of a task: the race rule on the cases recorded so far."""

    def __init__(self, session: LLMSession, racing: Racing) -> None:
        self.session = session
        self.racing = racing
        self.unraceable: set[str] = set()

    def decide(self, task_name: str, stage: int) -> list[RacedOut]:
        from pytest_llmselect.decision import unit_loss
        from pytest_llmselect.metrics import METRICS

        s = self.session
        task = s.plan.tasks.get(task_name)
        if task is None:
            return []
        rng = task.score_range or (METRICS[task.metric].score_range if task.metric in METRICS else None)
        if rng is None:
            if task_name not in self.unraceable:
                self.unraceable.add(task_name)
                s.events.warnings.append(f"--llm-race: task {task_name!r} has no known score range "
                                         "(llm_task(score_range=...)): it runs every case of every candidate")
            return []
        order = [cid for k in range(stage + 1) for cid in self.racing.stages[task_name][k]]
        in_task = [c for c in s.settings.candidates if (task_name, c.name) in s.plan.groups]
        alive = [c.name for c in in_task if (task_name, c.name) not in self.racing.dropped
                 and c.name not in s.pool.load_errors]
        rows = effective_scores(s.ledger.records, task.to_dict(), s.settings.errors)
        # The race's order holds the plan's case ids; a test may record under its own id.
        alias = {(r["candidate"], r["case_id"]): s.plan.cases[r["nodeid"]][2] for r in s.ledger.records
                 if r["task"] == task_name and r.get("nodeid") in s.plan.cases}
        hib = task.higher_is_better
        losses = {name: {alias.get((name, cid), cid): unit_loss(score, rng, hib)
                         for cid, (score, _) in rows.get(name, {}).items()}
                  for name in alive if rows.get(name)}
        groups = {alias.get((name, cid), cid): group for name, per in rows.items()
                  for cid, (_, group) in per.items() if group is not None}
        costs, ses, eligible = {}, {}, []
        constraints = s.settings.constraints
        width = float(rng[1]) - float(rng[0])
        for name in losses:
            fig = s.figures(task_name, name)
            costs[name] = float(fig.get("usd_per_1000_cases") or 0.0)
            ses[name] = self._cost_se(task_name, name, costs[name])
            quality = sum(float(r[0]) for r in rows[name].values()) / len(rows[name])
            floors = [q for q in (task.min_quality, getattr(constraints, "min_quality", None)) if q is not None]
            ok = all((quality >= q) if hib else (quality <= q) for q in floors)
            max_cost = getattr(constraints, "max_cost", None)
            if ok and (max_cost is None or costs[name] <= max_cost):
                eligible.append(name)
        max_loss = unit_loss(task.min_quality, rng, hib) if task.min_quality is not None else None
        leader, drops = decide_stage(order, losses, alpha_s=s.settings.alpha * width, costs=costs, cost_se=ses,
                                     level=s.settings.level, n_candidates=len(in_task), groups=groups,
                                     eligible=eligible, max_loss=max_loss)
        if leader is not None:
            self.racing.leaders[task_name] = leader
        return [self._drop(task_name, stage, d, rows) for d in drops]

    def _cost_se(self, task: str, name: str, cost: float) -> float:
        """The cost's standard error from the spread of its stages' per-request seconds; its
        whole size until two stages were timed (time-priced); 0 where cost is exact."""
        s = self.session
        if s.settings.cost_model != "time" or s.settings.price_of(name).usd_per_hour is None:
            return 0.0
        group = s.plan.groups.get((task, name))
        rounds = [sec / n for sec, n in (group.stage_rounds if group is not None else []) if n > 0]
        if len(rounds) < 2:
            return abs(cost)
        mean = sum(rounds) / len(rounds)
        sd = math.sqrt(sum((r - mean) ** 2 for r in rounds) / (len(rounds) - 1))
        return abs(cost) * sd / (math.sqrt(len(rounds)) * mean) if mean > 0 else abs(cost)

    def _drop(self, task: str, stage: int, d: Drop, rows: dict[str, Any]) -> RacedOut:
        out = RacedOut(task=task, candidate=d.candidate, cases=len(rows.get(d.candidate, {})), stage=stage + 1,
                       leader=d.leader, reason=d.reason, lower=d.lower)
        s = self.session
        s.events.progress.note(f"race: {d.candidate} out of task {task!r} after {out.cases} cases ({d.reason})")
        s.events.log_event("race", {"task": task, "candidate": d.candidate, "cases": out.cases,
                                    "stage": out.stage, "leader": d.leader, "reason": d.reason})
        return out


class RaceSkip:
    """Registered with the plugin manager under ``--llm-race``: a raced-out candidate's items
    are skipped at setup (no fixture, no model load); each case ends not run, the reason named."""

    def __init__(self, session: LLMSession, racing: Racing) -> None:
        self.session = session
        self.racing = racing

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        out = self.racing.raced_out(item)
        if out is None:
            return
        if item.nodeid in self.session.plan.cases and item.nodeid not in self.session.ledger.recorded:
            self.session.ledger.not_run(item.nodeid, out.not_run_reason)
        pytest.skip(f"{out.not_run_reason}: {out.candidate} on task {out.task!r}, {out.reason}")


def race_report(session: LLMSession, racing: Racing) -> dict[str, Any]:
    """The report's ``race`` block: the setting, the guarantee, each task's stages, who was
    raced out and when, and the compute saved against running every case (docs/report-schema.md)."""
    s = session
    tasks = []
    saved = {"requests": 0.0, "model_seconds": 0.0, "tokens": 0.0}
    spent = {"requests": 0.0, "model_seconds": 0.0, "tokens": 0.0}
    for (task, cand), group in s.plan.groups.items():
        m = group.measures
        spent["requests"] += m.requests
        spent["model_seconds"] += m.model_seconds
        spent["tokens"] += m.input_tokens + m.output_tokens
    for task, stages in racing.stages.items():
        dropped = []
        for out in sorted((o for o in racing.dropped.values() if o.task == task), key=lambda o: (o.stage, o.candidate)):
            group = s.plan.groups.get((task, out.candidate))
            planned = sum(1 for t, c, _ in s.plan.cases.values() if t == task and c == out.candidate)
            left = max(0, planned - out.cases)
            m = group.measures if group is not None else None
            per = max(1, out.cases)
            figures = {"requests": (m.requests if m else 0) / per * left,
                       "model_seconds": (m.model_seconds if m else 0.0) / per * left,
                       "tokens": ((m.input_tokens + m.output_tokens) if m else 0) / per * left}
            for k, v in figures.items():
                saved[k] += v
            dropped.append({"candidate": out.candidate, "cases": out.cases, "not_run": left, "stage": out.stage,
                            "leader": out.leader, "reason": out.reason, "lower": out.lower,
                            "saved": {k: round(v, 6) for k, v in figures.items()}})
        tasks.append({"task": task, "stages": [len(st) for st in stages],
                      "stages_run": len({k for (t, k) in racing.decided if t == task}),
                      "leader": racing.leaders.get(task), "raced_out": dropped})
    full = {k: spent[k] + saved[k] for k in spent}
    return {
        "setting": racing.setting.text(),
        "guarantee": GUARANTEE.format(level=s.settings.level),
        "tasks": tasks,
        "spent": {k: round(v, 6) for k, v in spent.items()},
        "saved": {k: round(v, 6) for k, v in saved.items()},
        "share_of_full": {k: (round(spent[k] / full[k], 4) if full[k] > 0 else None) for k in spent},
        "saved_method": "each raced-out candidate's cases not run, at its per-case figures on the cases it ran",
    }
