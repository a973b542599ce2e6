"""Timing that follows the decision (issue 24, point 4): the same pytest run on two trees of
the plugin, side by side, alternating which goes first: process CPU seconds (the pytest
process and its children, from ``os.wait4``), the model seconds spent in timed rounds (the sum
of every group's ``round_seconds``), the groups timed in more than one round, and whether the
picks agree.

    python benchmarks/bench_timing_rounds.py --before /path/to/main-tree --after . --repeats 2 -- \\
        suites/ --llm-candidates=zoo:tiny,zoo:small,zoo:base,zoo:wide --llm-cost-model=time \\
        --llm-cache=off -p no:randomly --llm-cpu-threads=1 -o llm_prices=

Each side runs from its own tree (``PYTHONPATH`` = the tree, working directory = the tree), so
``suites/`` means that tree's copy. Prints a Markdown table and writes ``--out`` (JSON).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any


def run_once(tree: Path, args: list[str], report: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, "-m", "pytest", *args, f"--llm-report={report}", "--llm-run-log=", "-q",
           "-p", "no:cacheprovider"]
    proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    cpu = usage.ru_utime + usage.ru_stime
    data = json.loads(report.read_text(encoding="utf-8"))
    groups = [(t["name"], r) for t in data["tasks"] for r in t["results"] if r.get("measures")]
    timed = [sum(r["measures"].get("round_seconds") or []) for _, r in groups]
    warm = [r["measures"].get("warmup_seconds") or 0.0 for _, r in groups]
    spreads = [statistics.stdev(x) / statistics.fmean(x) for _, r in groups
               if len(x := r["measures"].get("round_seconds") or []) > 1 and statistics.fmean(x) > 0]
    return {
        "status": os.waitstatus_to_exitcode(status), "cpu_s": cpu,
        # each several-round group's coefficient of variation between its rounds (within one run)
        "round_cv": sorted(spreads),
        "model_seconds_spent": sum(timed), "warmup_seconds": sum(warm), "groups": len(groups),
        "multi_round_groups": sum(1 for _, r in groups if len(r["measures"].get("round_seconds") or []) > 1),
        "retimed": [f"{t} · {r['candidate']}: {r['measures'].get('timing_rounds_reason')}" for t, r in groups
                    if r["measures"].get("timing_rounds_reason")],
        "picks": {t["name"]: t["selection"]["selected"] for t in data["tasks"]} | {"overall": data.get("selected")},
        "tail": out.decode(errors="replace")[-400:],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", type=Path, required=True)
    ap.add_argument("--after", type=Path, required=True)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("pytest_args", nargs=argparse.REMAINDER)
    ns = ap.parse_args()
    args = [a for a in ns.pytest_args if a != "--"]
    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(ns.repeats):
            order = ("before", "after") if i % 2 == 0 else ("after", "before")
            for side in order:
                tree = (ns.before if side == "before" else ns.after).resolve()
                got = run_once(tree, args, Path(tmp) / f"{side}{i}.json")
                runs[side].append(got)
                print(f"{side} #{i}: exit {got['status']}, {got['cpu_s']:.1f} CPU s, "
                      f"{got['model_seconds_spent']:.2f} model s, {got['multi_round_groups']}/{got['groups']} "
                      "groups in several rounds", file=sys.stderr, flush=True)
    print("| side | runs | process CPU s (median) | model seconds in timed rounds (median) | groups timed in "
          "several rounds | picks |")
    print("|---|---:|---:|---:|---:|---|")
    for side, rs in runs.items():
        picks = rs[0]["picks"]
        same = all(r["picks"] == picks for r in rs)
        print(f"| {side} | {len(rs)} | {statistics.median(r['cpu_s'] for r in rs):.1f} | "
              f"{statistics.median(r['model_seconds_spent'] for r in rs):.2f} | "
              f"{rs[0]['multi_round_groups']} of {rs[0]['groups']} | "
              f"{', '.join(f'{k}: {v}' for k, v in picks.items())}{'' if same else ' (varied)'} |")
    for side, rs in runs.items():
        cvs = sorted(c for r in rs for c in r["round_cv"])
        if cvs:
            print(f"\n{side}: between-round coefficient of variation within a run, over {len(cvs)} groups: "
                  f"median {statistics.median(cvs):.1%}, 90th percentile {cvs[math.ceil(0.9 * (len(cvs) - 1))]:.1%}, "
                  f"largest {cvs[-1]:.1%}")
    for r in runs["after"][:1]:
        for line in r["retimed"]:
            print(f"- {line}")
    if ns.out:
        ns.out.write_text(json.dumps(runs, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
