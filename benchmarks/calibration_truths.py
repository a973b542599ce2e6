"""Synthetic truths for bench_calibration.py: known accuracies and costs, cases drawn with
replacement from a fixed population, so every statement of the report can be checked
against the population it stands for.

Settings: 2 and 3 candidates; 0/1 and continuous scores; independent cases and clustered
ones (groups of five that share most of their outcome, passed as ``group=``); alphas at
0.5-2x each switch point, with the switch point itself an exact tie in the population; n
from 10 to 160 cases per task; a 3-task overall (0/1, continuous, and an absolute error on
0-200 that enters on its [0, 1] scale); timing rounds with run-level drift.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from pytest_llmselect.confidence import TaskData, objective_compare, pick_probability
from pytest_llmselect.costmodel import mean_interval, normalised_rounds, with_run_drift
from pytest_llmselect.decision import Stratum
from pytest_llmselect.verdicts import decide as decide_pick

LEVEL = 0.95
GROUP = 5
POOL_GROUPS = 600
FACTORS = (0.5, 0.8, 0.95, 1.0, 1.05, 1.25, 2.0)
BUCKETS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0001)

# name -> (per-task accuracy-like quality, cost per task)
TWO = {"cheap": (0.70, 1.0), "dear": (0.80, 2.0)}
THREE = {"cheap": (0.65, 1.0), "mid": (0.75, 2.0), "dear": (0.80, 4.0)}


@dataclass(frozen=True)
class Task:
    kind: str  # "binary" | "continuous" | "abs_error"
    losses: dict[str, np.ndarray]  # population losses on the [0, 1] scale
    raw: dict[str, np.ndarray]  # population losses in the task's own units
    groups: np.ndarray
    costs: dict[str, float]
    scale: float  # raw loss units per unit of [0, 1] loss


def population(kind: str, cands: dict[str, tuple[float, float]], clustered: bool, rng: np.random.Generator,
               cost_mult: float = 1.0) -> Task:
    n = POOL_GROUPS * GROUP
    groups = np.repeat(np.arange(POOL_GROUPS), GROUP) if clustered else np.arange(n)
    g_lat = rng.random(POOL_GROUPS).repeat(GROUP)
    g_norm = rng.standard_normal(POOL_GROUPS).repeat(GROUP)
    share_group = rng.random(n) < (0.8 if clustered else 0.0)
    case_u = np.where(share_group, g_lat, rng.random(n))
    case_z = np.where(share_group, g_norm, rng.standard_normal(n))
    losses, raw = {}, {}
    for name, (q, _) in cands.items():
        own = rng.random(n) < 0.4
        if kind == "binary":
            u = np.where(own, rng.random(n), case_u)
            loss = (u >= q).astype(float)
            raw[name] = loss
        else:
            z = np.where(own, rng.standard_normal(n), case_z)
            score = np.clip(q + 0.25 * z, 0.0, 1.0)
            loss = 1.0 - score
            raw[name] = loss if kind == "continuous" else 200.0 * loss  # an absolute error on 0-200
        losses[name] = loss
    return Task(kind, losses, raw, groups, {c: cost_mult * v[1] for c, v in cands.items()},
                1.0 if kind != "abs_error" else 200.0)


def truth(tasks: list[Task], alpha: float) -> dict[str, float]:
    w = 1.0 / len(tasks)
    return {c: math.fsum(w * (t.costs[c] + alpha * float(t.losses[c].mean())) for t in tasks) for c in tasks[0].costs}


def switch_points(tasks: list[Task]) -> list[float]:
    """Alphas where the population's argmin changes, exactly ties in the population."""
    names = list(tasks[0].costs)
    cost = {c: sum(t.costs[c] for t in tasks) for c in names}
    loss = {c: sum(float(t.losses[c].mean()) for t in tasks) for c in names}
    out, alpha = [], 0.0
    cur = min(names, key=lambda c: (cost[c], loss[c]))
    while True:
        cross = [((cost[c] - cost[cur]) / (loss[cur] - loss[c]), c) for c in names if loss[c] < loss[cur]]
        cross = [x for x in cross if x[0] >= alpha]
        if not cross:
            return out
        alpha, cur = min(cross)
        out.append(alpha)


def draw(tasks: list[Task], n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    out = []
    for t in tasks:
        if t.groups[-1] == t.groups.size - 1:  # independent cases
            idx = rng.integers(0, t.groups.size, n)
            groups = None
        else:
            picked = rng.integers(0, POOL_GROUPS, max(2, n // GROUP))
            idx = (picked[:, None] * GROUP + np.arange(GROUP)[None, :]).ravel()
            groups = np.repeat(np.arange(picked.size), GROUP)
        out.append({"losses": {c: v[idx] for c, v in t.losses.items()}, "raw": {c: v[idx] for c, v in t.raw.items()},
                    "groups": groups, "costs": t.costs, "scale": t.scale})
    return out


def decide(sample: list[dict[str, Any]], alpha: float, seed: int, old: bool) -> dict[str, Any]:
    """The new rule (decision.py) and, with ``old``, the rule before it, on one sample."""
    names = list(sample[0]["costs"])
    strata = [Stratum(losses=s["losses"], costs=s["costs"], groups=s["groups"]) for s in sample]
    w = 1.0 / len(sample)
    obj = {c: math.fsum(w * (s["costs"][c] + alpha * float(s["losses"][c].mean())) for s in sample) for c in names}
    sel = min(names, key=lambda c: (obj[c], sample[0]["costs"][c]))
    pick = decide_pick(strata, names, sel, alpha=alpha, level=LEVEL, seed=seed, n_draws=1000)
    out = {"sel": sel, "clear": pick.clear, "p": pick.shares[sel],
           "settle": None if pick.settle is None else pick.settle.cases}
    if old:
        # Before: raw units, groups ignored; per task an objective test, overall the bootstrap share alone.
        raw_obj = {c: math.fsum(w * (s["costs"][c] + alpha * float(s["raw"][c].mean())) for s in sample) for c in names}
        osel = min(names, key=lambda c: (raw_obj[c], sample[0]["costs"][c], c))
        data = {str(i): TaskData(losses=s["raw"], costs=s["costs"]) for i, s in enumerate(sample)}
        share = pick_probability(data, alpha, candidates=names, n_resamples=200, seed=seed).shares[osel]
        if len(sample) == 1:
            s = sample[0]
            ok = all(objective_compare(s["raw"][r], s["raw"][osel], alpha=alpha, cost_a=s["costs"][r],
                                       cost_b=s["costs"][osel], level=LEVEL, m=len(names) - 1).worse
                     for r in names if r != osel)
            oclear = ok and share >= LEVEL
        else:
            oclear = share >= LEVEL
        out.update(osel=osel, oclear=oclear, op=share)
    return out


def wilson(k: int, n: int) -> str:
    if n == 0:
        return "-"
    z = 1.959963984540054
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return f"{100 * p:.1f}% [{100 * max(0.0, mid - half):.1f}, {100 * min(1.0, mid + half):.1f}]"


def run_synthetic(reps: int, sizes: list[int], seed: int, settle_reruns: int, log: Any,
                  old_reps: int = 30) -> dict[str, Any]:
    """Every setting ``reps`` runs of the new rule; the rule before it on the first
    ``old_reps`` of them (it is slower, and only the baseline)."""
    rng = np.random.default_rng(seed)
    rows = []
    calib: dict[str, dict[int, list[float]]] = {"new": defaultdict(lambda: [0, 0, 0.0]),
                                                 "old": defaultdict(lambda: [0, 0, 0.0])}
    settle_hits = [0, 0]
    setups = [(kind, cl, cands, False) for kind in ("binary", "continuous") for cl in (False, True)
              for cands in (TWO, THREE)] + [("overall", cl, cands, True) for cl in (False, True) for cands in (TWO, THREE)]
    for kind, clustered, cands, multi in setups:
        if multi:
            tasks = [population("binary", cands, clustered, rng), population("continuous", cands, clustered, rng),
                     population("abs_error", cands, clustered, rng, cost_mult=1.0)]
        else:
            tasks = [population(kind, cands, clustered, rng)]
        for sp in switch_points(tasks):
            for f in FACTORS:
                alpha = sp * f
                t_obj = truth(tasks, alpha)
                best = min(t_obj.values())
                winners = {c for c, v in t_obj.items() if v - best <= 1e-9 * max(1.0, abs(best))}
                for n in sizes:
                    cnt = defaultdict(int)
                    for r in range(reps):
                        old = r < old_reps
                        out = decide(draw(tasks, n, rng), alpha, seed + r, old=old)
                        right = out["sel"] in winners
                        tie = len(winners) > 1
                        cnt["clear"] += out["clear"]
                        cnt["wrong"] += out["clear"] and (tie or not right)
                        checks = [("new", out["p"], right)]
                        if old:
                            oright = out["osel"] in winners
                            cnt["oreps"] += 1
                            cnt["oclear"] += out["oclear"]
                            cnt["owrong"] += out["oclear"] and (tie or not oright)
                            checks.append(("old", out["op"], oright))
                        if not tie:
                            for key, p, ok in checks:
                                b = next(i for i in range(len(BUCKETS) - 1) if BUCKETS[i] <= p < BUCKETS[i + 1])
                                cell = calib[key][b]
                                cell[0] += ok
                                cell[1] += 1
                                cell[2] += p
                        if out["settle"] is not None and not tie and cnt["reruns"] < settle_reruns:
                            cnt["reruns"] += 1
                            again = decide(draw(tasks, max(1, round(out["settle"] / len(tasks))), rng), alpha,
                                           seed + r, old=False)
                            cnt["settled"] += again["clear"]
                    settle_hits[0] += cnt["settled"]
                    settle_hits[1] += cnt["reruns"]
                    rows.append(dict(kind=kind, clustered=clustered, k=len(cands), switch=sp, alpha=alpha, factor=f, n=n,
                                     tie=len(winners) > 1, reps=reps, **cnt))
                print(f"# {kind} clustered={clustered} k={len(cands)} switch {sp:.4g} done", file=log, flush=True)
    return {"rows": rows, "calib": calib, "settle": settle_hits}


def drift_coverage(runs: int, rounds: int, drift: float, rng: np.random.Generator) -> dict[str, list[int]]:
    """Cost-interval coverage of the true (unloaded) seconds under a run-level drift: every
    round of a run is slowed by the run's factor (log-normal, SD ``drift``) and by the load
    of its moment (5%), plus 3% round noise. The reference workload beside each round
    feels the same factors, with its own 3% noise."""
    true_s, nominal = 2.0, 0.5
    hits = {"rounds t interval": [0, 0], "reference-normalised": [0, 0], "allowance 10%": [0, 0],
            "allowance 20%": [0, 0]}
    for _ in range(runs):
        run_f = math.exp(drift * rng.standard_normal())
        moment = np.exp(0.05 * rng.standard_normal(rounds))
        xs = true_s * run_f * moment * np.exp(0.03 * rng.standard_normal(rounds))
        ref = nominal * run_f * moment * np.exp(0.03 * rng.standard_normal(rounds))
        plain = mean_interval(list(xs), LEVEL)
        for key, est in (("rounds t interval", plain),
                         ("reference-normalised", mean_interval(normalised_rounds(xs, ref, nominal), LEVEL)),
                         ("allowance 10%", with_run_drift(plain, LEVEL, 0.1)),
                         ("allowance 20%", with_run_drift(plain, LEVEL, 0.2))):
            hits[key][0] += est.lo <= true_s <= est.hi
            hits[key][1] += 1
    return hits


def print_report(res: dict[str, Any], drift: dict[int, dict[str, list[int]]]) -> None:
    rows = res["rows"]
    print("| scores | groups | k | alpha / switch | n | runs | clear (new) | clear & wrong (new) | "
          "clear & wrong (before) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['kind']} | {'clustered' if r['clustered'] else 'independent'} | {r['k']} | {r['factor']:g}"
              f"{' (tie)' if r['tie'] else ''} of {r['switch']:.3g} | {r['n']} | {r['reps']} | {wilson(r['clear'], r['reps'])} | "
              f"{wilson(r['wrong'], r['reps'])} | {wilson(r['owrong'], r['oreps'])} |")
    worst = max(rows, key=lambda r: r["wrong"])
    oworst = max(rows, key=lambda r: r["owrong"])
    ties = [r for r in rows if r["tie"]]
    total = sum(r["reps"] for r in rows)
    print(f"\nAll settings: clear and wrong in {wilson(sum(r['wrong'] for r in rows), total)} of {total:,} runs "
          f"(before: {wilson(sum(r['owrong'] for r in rows), sum(r['oreps'] for r in rows))}).")
    print(f"Worst setting, clear and wrong: new {wilson(worst['wrong'], worst['reps'])} "
          f"({worst['kind']}, {'clustered' if worst['clustered'] else 'independent'}, k={worst['k']}, n={worst['n']}, "
          f"x{worst['factor']:g}); before {wilson(oworst['owrong'], oworst['oreps'])}.")
    for cl in (False, True):
        sub = [r for r in ties if r["clustered"] == cl]
        wt = max(sub, key=lambda r: r["clear"])
        ot = max(sub, key=lambda r: r["oclear"])
        print(f"Exact tie, {'clustered' if cl else 'independent'}: false clear picks, worst setting new "
              f"{wilson(wt['clear'], wt['reps'])}; before {wilson(ot['oclear'], ot['oreps'])}; pooled new "
              f"{wilson(sum(r['clear'] for r in sub), sum(r['reps'] for r in sub))}, before "
              f"{wilson(sum(r['oclear'] for r in sub), sum(r['oreps'] for r in sub))}.")
    print("\n| stated P(pick) bucket | runs (new) | mean stated (new) | right (new) | runs (before) | "
          "mean stated (before) | right (before) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for b in range(len(BUCKETS) - 1):
        cells = []
        for key in ("new", "old"):
            ok, tot, s = res["calib"][key].get(b, [0, 0, 0.0])
            cells += [str(tot), f"{100 * s / tot:.1f}%" if tot else "-", wilson(ok, tot)]
        print(f"| [{100 * BUCKETS[b]:.0f}, {min(100, 100 * BUCKETS[b + 1]):.0f}) | " + " | ".join(cells) + " |")
    hit, tot = res["settle"]
    print(f"\nClear pick in a rerun at the stated 'cases to settle': {wilson(hit, tot)} of {tot} reruns.")
    keys = list(next(iter(drift.values())))
    print("\n| run-level drift (SD) | rounds | " + " | ".join(keys) + " |")
    print("|---:|---:|" + "---:|" * len(keys))
    for (d, k), hits in sorted(drift.items()):
        print(f"| {100 * d:.0f}% | {k} | " + " | ".join(wilson(*hits[key]) for key in keys) + " |")
