"""Racing (``--llm-race``, pytest_llmselect/race.py) measured three ways.

    python benchmarks/bench_race.py simulate --seeds 400
        synthetic truths with known accuracies: how often the race drops the true best (must
        stay within 1 - level; Clopper-Pearson interval), how often its pick is the full run's,
        and the share of cases it ran. 0/1 and continuous scores, independent and clustered
        cases, near and exact ties, a pick that cost decides, 2 to 6 candidates.
    python benchmarks/bench_race.py replay FULL.json --seeds 200
        the saved per-case data of a full run (every case of every candidate): the race run on
        it in many seeded case orders; per task, its pick against the full run's, and the share
        of model seconds (each case at its candidate's per-case seconds) it would spend.
    python benchmarks/bench_race.py live FULL.json --seeds 3 -- PYTEST ARGS
        real raced runs (--llm-race=VALUE --llm-seed=S) of the same suite and candidates: the pick
        per task and overall against FULL.json's, the race's share of model seconds and of
        requests, and the process's CPU seconds against the full run's (--full-cpu).

One torch thread (--llm-cpu-threads=1 in the live runs); CPU seconds, not wall time.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import resource
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Sequence

from scipy.stats import binomtest

from pytest_llmselect.race import RaceSetting, decide_stage, stage_sizes

ROOT = Path(__file__).resolve().parents[1]


def race(losses: dict[str, list[float]], *, alpha_s: float, costs: dict[str, float], cost_se: dict[str, float],
         level: float, setting: RaceSetting, seed: int, groups: Sequence[int] | None = None
         ) -> tuple[set[str], dict[str, int]]:
    """Run the race on full per-case losses: ``(survivors, cases run per candidate)``."""
    n = len(next(iter(losses.values())))
    ids = [str(i) for i in range(n)]
    random.Random(seed).shuffle(ids)
    alive = dict.fromkeys(losses)
    ran = {c: 0 for c in losses}
    grp = {str(i): g for i, g in enumerate(groups)} if groups is not None else None
    start = 0
    for size in stage_sizes(n, setting):
        start += size
        order = ids[:start]
        for c in alive:
            ran[c] = start
        data = {c: {cid: losses[c][int(cid)] for cid in order} for c in alive}
        _, drops = decide_stage(order, data, alpha_s=alpha_s, costs=costs, cost_se=cost_se, level=level,
                                n_candidates=len(losses), groups=grp)
        for d in drops:
            alive.pop(d.candidate, None)
        if len(alive) <= 1:
            break
    return set(alive), ran


def pick(losses: dict[str, list[float]], names: set[str], alpha_s: float, costs: dict[str, float]) -> str:
    order = list(losses)
    return min(names, key=lambda c: (alpha_s * sum(losses[c]) / len(losses[c]) + costs.get(c, 0.0), order.index(c)))


def cp(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    ci = binomtest(k, n).proportion_ci(confidence_level=level, method="exact")
    return ci.low, ci.high


# ---- synthetic truths ------------------------------------------------------------------------

@dataclass(frozen=True)
class Truth:
    name: str
    means: tuple[float, ...]          # expected score (higher is better) per candidate
    binary: bool = True
    cluster: int = 1                   # cases per cluster (1: independent)
    cost: tuple[float, ...] = ()      # per-candidate cost (objective units), default 0
    cost_se: float = 0.0
    n: int = 200


TRUTHS = [
    Truth("clear, 6 candidates, 0/1", (0.88, 0.7, 0.55, 0.35, 0.2, 0.05)),
    Truth("near tie 0.62/0.60 + 4 others, 0/1", (0.62, 0.6, 0.45, 0.3, 0.15, 0.05)),
    Truth("exact tie 0.6/0.6, 0/1", (0.6, 0.6, 0.3)),
    Truth("clustered (groups of 10), 0/1", (0.75, 0.68, 0.45, 0.25), cluster=10),
    Truth("clustered near tie (groups of 5)", (0.62, 0.6, 0.35), cluster=5),
    Truth("continuous, 6 candidates", (0.85, 0.8, 0.6, 0.5, 0.3, 0.2), binary=False),
    Truth("cost decides (equal quality)", (0.6, 0.6, 0.6), cost=(0.0, 0.15, 0.3), cost_se=0.05),
]


def draw(truth: Truth, rng: random.Random) -> tuple[dict[str, list[float]], list[int]]:
    """Per-case losses of each candidate: a shared case difficulty (Gaussian copula, r = 0.5),
    plus a shared cluster effect when clustered, so paired differences are realistic."""
    nd = NormalDist()
    n = truth.n
    groups = [i // truth.cluster for i in range(n)]
    cluster_effect = {g: rng.gauss(0, 1) for g in set(groups)}
    rc = 0.6 if truth.cluster > 1 else 0.0
    losses: dict[str, list[float]] = {f"c{k}": [] for k in range(len(truth.means))}
    for i in range(n):
        shared = math.sqrt(rc) * cluster_effect[groups[i]] + math.sqrt(1 - rc) * rng.gauss(0, 1)
        for k, p in enumerate(truth.means):
            z = math.sqrt(0.5) * shared + math.sqrt(0.5) * rng.gauss(0, 1)
            u = nd.cdf(z)
            if truth.binary:
                losses[f"c{k}"].append(0.0 if u < p else 1.0)
            else:  # a score in [0, 1] with mean p: Beta-like through the quantile of u
                score = min(1.0, max(0.0, p + 0.35 * (nd.inv_cdf(min(max(u, 1e-9), 1 - 1e-9)) / 2.0)))
                losses[f"c{k}"].append(1.0 - score)
    return losses, groups


def simulate(seeds: int, level: float, setting: RaceSetting) -> list[dict[str, object]]:
    rows = []
    for truth in TRUTHS:
        costs = {f"c{k}": c for k, c in enumerate(truth.cost)}
        ses = {c: truth.cost_se for c in costs}
        expected = {f"c{k}": (1 - p) + costs.get(f"c{k}", 0.0) for k, p in enumerate(truth.means)}
        best_value = min(expected.values())
        best = {c for c, v in expected.items() if abs(v - best_value) < 1e-12}
        dropped_best = same = 0
        share = 0.0
        for seed in range(seeds):
            rng = random.Random(f"{truth.name}:{seed}")
            losses, groups = draw(truth, rng)
            # measured cost: the truth plus noise of the stated standard error
            measured = {c: v + rng.gauss(0, truth.cost_se) for c, v in costs.items()}
            survivors, ran = race(losses, alpha_s=1.0, costs=measured, cost_se=ses, level=level, setting=setting,
                                  seed=seed, groups=groups if truth.cluster > 1 else None)
            dropped_best += bool(best - survivors)
            full = pick(losses, set(losses), 1.0, measured)
            same += pick(losses, survivors, 1.0, measured) == full
            share += sum(ran.values()) / (truth.n * len(losses))
        lo, hi = cp(dropped_best, seeds)
        rows.append({"truth": truth.name, "runs": seeds, "best_dropped": dropped_best / seeds,
                     "best_dropped_ci": (lo, hi), "same_pick": same / seeds, "cases_share": share / seeds})
    return rows


# ---- saved per-case data ---------------------------------------------------------------------

def task_data(report: dict, task: dict) -> tuple[dict[str, list[float]], dict[str, float], dict[str, float], float]:
    """Per candidate, its losses on the task's common cases (in [0, 1] of the range), cost, and
    model seconds per case; and alpha times the range's width."""
    rng = task.get("score_range") or [0.0, 1.0]
    width = float(rng[1]) - float(rng[0])
    hib = task.get("higher_is_better", True)
    by: dict[str, dict[str, float]] = {}
    for c in report["cases"]:
        if c["task"] == task["name"]:
            s = c["score"] if c.get("score") is not None else (rng[0] if hib else rng[1])
            loss = (rng[1] - s) / width if hib else (s - rng[0]) / width
            by.setdefault(c["candidate"], {})[c["case_id"]] = loss
    common = sorted(set.intersection(*(set(v) for v in by.values())))
    losses = {c: [v[i] for i in common] for c, v in by.items()}
    rows = {r["candidate"]: r for r in task["results"]}
    costs = {c: float(rows[c]["cost"] or 0.0) for c in losses}
    secs = {c: float(rows[c]["measures"]["model_seconds"]) / max(1, rows[c]["n"]) for c in losses}
    return losses, costs, secs, float(report["alpha"]) * width


def replay(path: Path, seeds: int, level: float, setting: RaceSetting) -> list[dict[str, object]]:
    report = json.loads(path.read_text())
    rows = []
    for task in report["tasks"]:
        losses, costs, secs, alpha_s = task_data(report, task)
        full = task["selection"]["selected"]
        same = 0
        share = 0.0
        total = sum(secs[c] * len(losses[c]) for c in losses)
        for seed in range(seeds):
            survivors, ran = race(losses, alpha_s=alpha_s, costs=costs, cost_se={}, level=level, setting=setting,
                                  seed=seed)
            same += pick(losses, survivors, alpha_s, costs) == full
            share += sum(secs[c] * ran[c] for c in ran) / total
        lo, hi = cp(same, seeds)
        rows.append({"task": task["name"], "candidates": len(losses), "cases": len(next(iter(losses.values()))),
                     "full_pick": full, "same_pick": same / seeds, "same_pick_ci": (lo, hi),
                     "model_seconds_share": share / seeds})
    return rows


# ---- live runs -------------------------------------------------------------------------------

def live(path: Path, seeds: int, pytest_args: list[str], full_cpu: float | None, race_value: str = "on"
         ) -> list[dict[str, object]]:
    full = json.loads(path.read_text())
    full_picks = {t["name"]: t["selection"]["selected"] for t in full["tasks"]}
    full_secs = sum(r["measures"]["model_seconds"] for t in full["tasks"] for r in t["results"])
    full_reqs = sum(r["measures"]["requests"] for t in full["tasks"] for r in t["results"])
    rows = []
    for seed in range(seeds):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "race.json"
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *pytest_args,
                            f"--llm-race={race_value}", f"--llm-seed={seed}", f"--llm-report={out}"],
                           cwd=ROOT, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            raced = json.loads(out.read_text())
        picks = {t["name"]: t["selection"]["selected"] for t in raced["tasks"]}
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        rows.append({"seed": seed, "same_task_picks": sum(picks[k] == v for k, v in full_picks.items()),
                     "tasks": len(full_picks), "same_overall": raced["selected"] == full["selected"],
                     "model_seconds_share": raced["race"]["spent"]["model_seconds"] / full_secs,
                     "requests_share": raced["race"]["spent"]["requests"] / full_reqs,
                     "cpu_s": cpu, "cpu_share": cpu / full_cpu if full_cpu else None,
                     "complete": raced["complete"],
                     "loads": sum(c.get("loads") or 0 for c in raced["candidates"])})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=("simulate", "replay", "live"))
    ap.add_argument("report", nargs="?", type=Path)
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--level", type=float, default=0.95)
    ap.add_argument("--race", default="on", help="the --llm-race value to measure (on, or a block size)")
    ap.add_argument("--full-cpu", type=float, default=None, help="CPU seconds of the full run's process")
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    a = ap.parse_args(argv[:cut])
    a.pytest_args = argv[cut + 1:]
    from pytest_llmselect.race import parse_race

    setting = parse_race(a.race)
    if a.mode == "simulate":
        print(f"| truth | runs | true best dropped [95% CP] (<= {1 - a.level:.2f}) | raced pick = full pick | "
              "cases run / all |")
        print("|---|---:|---:|---:|---:|")
        for r in simulate(a.seeds, a.level, setting):
            lo, hi = r["best_dropped_ci"]  # type: ignore[misc]
            print(f"| {r['truth']} | {r['runs']} | {r['best_dropped']:.3f} [{lo:.3f}, {hi:.3f}] | "
                  f"{r['same_pick']:.1%} | {r['cases_share']:.2f} |")
    elif a.mode == "replay":
        print("| task | candidates | cases | full-run pick | raced pick = full pick [95% CP] | model seconds / full |")
        print("|---|---:|---:|---|---:|---:|")
        for r in replay(a.report, a.seeds, a.level, setting):
            lo, hi = r["same_pick_ci"]  # type: ignore[misc]
            print(f"| {r['task']} | {r['candidates']} | {r['cases']} | {r['full_pick']} | "
                  f"{r['same_pick']:.1%} [{lo:.1%}, {hi:.1%}] | {r['model_seconds_share']:.2f} |")
    else:
        print("| seed | task picks = full | overall = full | model seconds / full | requests / full | "
              "CPU s | CPU / full | model loads | complete |")
        print("|---:|---:|---|---:|---:|---:|---:|---:|---|")
        for r in live(a.report, a.seeds, a.pytest_args, a.full_cpu, a.race):
            share = f"{r['cpu_share']:.2f}" if r["cpu_share"] is not None else "-"
            print(f"| {r['seed']} | {r['same_task_picks']}/{r['tasks']} | {r['same_overall']} | "
                  f"{r['model_seconds_share']:.2f} | {r['requests_share']:.2f} | {r['cpu_s']:.1f} | {share} | "
                  f"{r['loads']} | {r['complete']} |")


if __name__ == "__main__":
    main()
