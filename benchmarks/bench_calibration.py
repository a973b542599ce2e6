"""Calibration of the report's statements, on synthetic truths or by subsampling a saved run.

    python benchmarks/bench_calibration.py                    # synthetic truths (calibration_truths.py)
    python benchmarks/bench_calibration.py benchmarks/data/zoo_run.json --reps 200

Synthetic truths (the default): known accuracies and costs, cases drawn with replacement
from a fixed population, 2 and 3 candidates, 0/1 and continuous scores, independent and
clustered cases, alphas at 0.5-2x each switch point, n from 10 to 160, a 3-task overall and
timing rounds with run-level drift. Prints, per setting, clear picks and clear-and-wrong
picks (new rule and the one before it), false clear picks at an exact tie, the stated pick
probability against how often it was right by bucket, the clear-pick rate of a rerun at the
stated "cases to settle", and cost-interval coverage under drift; every rate with its
Wilson 95% interval. One process, one thread.

A saved run:
The full saved run is taken as the truth. For every task, sample size n and alpha, draw
``--reps`` paired subsamples of n cases (the same case ids for every candidate, without
replacement), run the project's own analysis (``analysis.analyze``) on each, and compare
what it says with the full data:

- P(pick = full-data argmin): how often the selected candidate is the full-data winner;
- confident picks (``clear_pick``) and the share of them that are wrong;
- "significantly worse" labels on candidates whose full-data objective is no worse than the
  subsample's selected candidate's (false labels);
- calibration of the pick probability: mean stated share of the selected candidate against
  how often the selected one is the full-data winner;
- coverage of the quality intervals (full-data quality inside the subsample's interval).

Alphas: the default (50) and, per task, 0.8x, 0.95x, 1.05x and 1.25x every switch point
(the alpha where the full-data winner changes). Costs are the full run's, scaled to the
subsample (model seconds and tokens in proportion to the cases); with no cost interval in
the run the cost is taken as known, as the analysis does.

``--methods`` also compares interval methods for non-binary scores (percentile bootstrap,
BCa, Student t) on the same subsamples. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

if "--use-installed" not in sys.argv:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_llmselect.analysis import AnalysisSettings, analyze, inputs_from_report  # noqa: E402


def settings(alpha: float, n_resamples: int) -> AnalysisSettings:
    # An older checkout has no n_resamples setting.
    if "n_resamples" in AnalysisSettings.__dataclass_fields__:
        return AnalysisSettings(alpha=alpha, n_resamples=n_resamples)
    return AnalysisSettings(alpha=alpha)


def one_task(inputs: dict[str, Any], task: str) -> dict[str, Any]:
    return {
        "candidates": inputs["candidates"],
        "tasks": [t for t in inputs["tasks"] if t["name"] == task],
        "cases": [c for c in inputs["cases"] if c["task"] == task],
        "measures": {k: v for k, v in inputs["measures"].items() if k[0] == task},
    }


def subsample(inputs: dict[str, Any], ids: set[str], fraction: float) -> dict[str, Any]:
    measures = {}
    for key, m in inputs["measures"].items():
        m = dict(m)
        for k in ("model_seconds", "input_tokens", "output_tokens"):
            if isinstance(m.get(k), (int, float)):
                m[k] = type(m[k])(m[k] * fraction) if k == "model_seconds" else round(m[k] * fraction)
        measures[key] = m
    return {**inputs, "cases": [c for c in inputs["cases"] if str(c["case_id"]) in ids], "measures": measures}


def confident_pick(task: dict[str, Any]) -> bool:
    """The report's ``clear_pick``; for a report made before it existed (run this script with
    an older checkout first on ``PYTHONPATH`` to compare), every other eligible candidate
    labelled "significantly worse"."""
    if "clear_pick" in task:
        return bool(task["clear_pick"])
    sel = task["selection"]["selected"]
    others = [r for r in task["results"] if r["candidate"] != sel
              and r["candidate"] not in task["selection"]["excluded"]]
    return sel is not None and all((r.get("comparison") or {}).get("verdict", "").startswith("significantly worse")
                                   for r in others)


def switch_alphas(block: dict[str, Any]) -> list[float]:
    ends = sorted({r[1] for r in block["alpha_ranges"].values() if r and r[1] is not None and r[1] > 0})
    return ends


def run(path: Path, reps: int, sizes: list[int], n_resamples: int, methods: bool, seed: int) -> None:
    report = json.loads(path.read_text())
    inputs = inputs_from_report(report)
    rng = np.random.default_rng(seed)
    rows = []
    coverage_rows: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    method_rows: dict[tuple[str, int, str], list[int]] = defaultdict(lambda: [0, 0])
    for task in [t["name"] for t in inputs["tasks"]]:
        full_in = one_task(inputs, task)
        full = analyze(full_in, settings(50.0, n_resamples))["tasks"][0]
        ids = sorted({str(c["case_id"]) for c in full_in["cases"]})
        truth_q = {r["candidate"]: r["quality"] for r in full["results"]}
        binary = full["binary"]
        alphas = [50.0] + [s * f for s in switch_alphas(full) for f in (0.8, 0.95, 1.05, 1.25)]
        for n in sizes:
            draws = [set(rng.choice(ids, size=n, replace=False).tolist()) for _ in range(reps)]
            subs = [subsample(full_in, d, n / len(ids)) for d in draws]
            for alpha in alphas:
                truth = analyze(full_in, settings(alpha, 10))["tasks"][0]
                t_obj = dict(truth["selection"]["objectives"])
                t_pick = truth["selection"]["selected"]
                right = confident = wrong_conf = labels = false_labels = 0
                stated = []
                for sub in subs:
                    out = analyze(sub, settings(alpha, n_resamples))["tasks"][0]
                    sel = out["selection"]["selected"]
                    right += sel == t_pick
                    stated.append((out.get("pick_probability") or {}).get(sel, math.nan))
                    if confident_pick(out):
                        confident += 1
                        wrong_conf += sel != t_pick
                    for r in out["results"]:
                        cmp = r.get("comparison") or {}
                        if cmp.get("verdict", "").startswith("significantly worse"):
                            labels += 1
                            c = r["candidate"]
                            if c in t_obj and sel in t_obj and t_obj[c] <= t_obj[sel]:
                                false_labels += 1
                    if alpha == 50.0:
                        for r in out["results"]:
                            cov = coverage_rows[(task, n)]
                            cov[0] += r["lo"] <= truth_q[r["candidate"]] <= r["hi"]
                            cov[1] += 1
                rows.append((task, n, alpha, reps, right / reps, float(np.mean(stated)), confident, wrong_conf,
                             labels, false_labels))
            if methods and not binary:
                from pytest_llmselect.stats import bca_interval, bootstrap_interval, t_interval

                for sub in subs:
                    by_c: dict[str, list[float]] = defaultdict(list)
                    for c in sub["cases"]:
                        by_c[c["candidate"]].append(float(c["score"]))
                    for cand, xs in by_c.items():
                        for name, fn in (("percentile", bootstrap_interval), ("bca", bca_interval),
                                         ("t", t_interval)):
                            lo, hi = fn(xs, 0.95)
                            lo, hi = max(0.0, lo), min(1.0, hi)
                            m = method_rows[(task, n, name)]
                            m[0] += lo <= truth_q[cand] <= hi
                            m[1] += 1
            print(f"# done {task} n={n}", file=sys.stderr, flush=True)
    print("| task | n | alpha | P(pick = full-data argmin) | mean stated P(pick) | confident picks | "
          "wrong among confident | 'significantly worse' labels | false labels |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for task, n, alpha, reps_, p_right, stated, conf, wrong, labels, false in rows:
        wrong_share = f"{wrong}/{conf} ({100 * wrong / conf:.1f}%)" if conf else "0/0"
        false_share = f"{false}/{labels} ({100 * false / labels:.1f}%)" if labels else "0/0"
        stated_text = "-" if math.isnan(stated) else f"{100 * stated:.1f}%"
        print(f"| {task} | {n} | {alpha:.4g} | {100 * p_right:.1f}% | {stated_text} | {conf} | "
              f"{wrong_share} | {labels} | {false_share} |")
    total_conf = sum(r[6] for r in rows)
    total_wrong = sum(r[7] for r in rows)
    worst = max((r[7] / r[6] for r in rows if r[6]), default=0.0)
    print(f"\nConfident picks: {total_wrong} wrong of {total_conf}; worst setting {100 * worst:.1f}% wrong.")
    print(f"False 'significantly worse' labels: {sum(r[9] for r in rows)} of {sum(r[8] for r in rows)}.\n")
    print("| task | n | quality-interval coverage (report's method, all candidates) |")
    print("|---|---:|---:|")
    for (task, n), (hit, tot) in sorted(coverage_rows.items()):
        print(f"| {task} | {n} | {100 * hit / tot:.1f}% ({hit}/{tot}) |")
    if method_rows:
        print("\n| task | n | percentile bootstrap | BCa (scipy) | Student t |")
        print("|---|---:|---:|---:|---:|")
        for task, n in sorted({(t, n) for t, n, _ in method_rows}):
            cells = []
            for name in ("percentile", "bca", "t"):
                hit, tot = method_rows[(task, n, name)]
                cells.append(f"{100 * hit / tot:.1f}%")
            print(f"| {task} | {n} | " + " | ".join(cells) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path, nargs="?", help="a run.json written by --llm-report (none: synthetic truths)")
    ap.add_argument("--reps", type=int, default=None, help="subsamples (synthetic: runs) per setting (default 200; synthetic 100)")
    ap.add_argument("--sizes", default=None, help="cases per subsample (default 10,20,40,80; synthetic 10,20,40,80,160)")
    ap.add_argument("--settle-reruns", type=int, default=20, help="synthetic: reruns at the stated N per setting")
    ap.add_argument("--drift-runs", type=int, default=2000, help="synthetic: simulated runs per drift setting")
    ap.add_argument("--resamples", type=int, default=500, help="bootstrap resamples of the pick probability")
    ap.add_argument("--methods", action="store_true", help="also compare interval methods on non-binary scores")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--use-installed", action="store_true",
                    help="analyse with the pytest_llmselect on PYTHONPATH (e.g. an older checkout), not this one")
    a = ap.parse_args()
    if a.run is None:
        synthetic(a)
        return
    run(a.run, a.reps or 200, [int(x) for x in (a.sizes or "10,20,40,80").split(",")], a.resamples, a.methods, a.seed)


def synthetic(a: argparse.Namespace) -> None:
    import time

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import calibration_truths as ct

    start = time.process_time()
    res = ct.run_synthetic(a.reps or 100, [int(x) for x in (a.sizes or "10,20,40,80,160").split(",")], a.seed,
                           a.settle_reruns, sys.stderr)
    rng = np.random.default_rng(a.seed + 1)
    drift = {(d, k): ct.drift_coverage(a.drift_runs, k, d, rng) for d in (0.0, 0.2) for k in (3, 10)}
    ct.print_report(res, drift)
    print(f"\nCPU seconds: {time.process_time() - start:.0f}")


if __name__ == "__main__":
    main()
