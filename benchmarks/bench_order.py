"""Does candidate order decide cost? Two zoo models in both orders, several times.

Each run is a whole `pytest` session over a copy of two example suites (`addition`:
generation, `largest`: log-likelihood) cut to ``--cases`` cases each, with alpha = 0 so
cost alone decides the selection. Runs interleave the modes and alternate the two orders
(drift in the machine's load hits every mode alike). For each mode:

* ``before``: what the plugin did before issue 9: one timed round, no warm-up
  (``--llm-benchmark-rounds=1 --llm-benchmark-warmup=0``);
* ``after``: the defaults (untimed warm-up batch, 3 timed rounds);
* ``flops``: ``--llm-cost-model=flops``;
* ``before1``, ``after1``: ``before`` and ``after`` with one torch thread (``--llm-cpu-threads=1``).

Printed per mode and task: the cost ratio B/A (median over runs of each order) with the
interval of each run, whether the ratio of one order lies inside the other order's
intervals, and how many runs selected something other than the most common selection.

    python benchmarks/bench_order.py --models tiny,small --repeats 3 --cases 24 --modes before,after,before1,after1,flops
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODES = {
    "before": ["--llm-benchmark-rounds=1", "--llm-benchmark-warmup=0", "--llm-latency-sample=0"],
    "after": [],
    "flops": ["--llm-cost-model=flops"],
    # the same two with one torch thread (--llm-cpu-threads=1), steadier on a shared CPU
    "before1": ["--llm-benchmark-rounds=1", "--llm-benchmark-warmup=0", "--llm-latency-sample=0",
                "--llm-cpu-threads=1"],
    "after1": ["--llm-cpu-threads=1"],
}


def make_suite(root: Path, cases: int) -> None:
    (root / "data").mkdir(parents=True)
    for task in ("addition", "largest"):
        shutil.copy(REPO / "suites" / f"test_{task}.py", root / f"test_{task}.py")
        lines = [ln for ln in (REPO / "suites" / "data" / f"{task}.jsonl").read_text().splitlines() if ln.strip()]
        (root / "data" / f"{task}.jsonl").write_text("\n".join(lines[:cases]) + "\n")


def run(root: Path, order: list[str], mode: str, out: Path) -> dict:
    cmd = [sys.executable, "-m", "pytest", str(root), "-q", "-p", "no:cacheprovider", "--rootdir", str(root),
           f"--llm-candidates={','.join(order)}", "--llm-alpha=0", f"--llm-report={out}", "--llm-run-log=", "--llm-cache=off",
           *MODES[mode]]
    subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=root)
    return json.loads(out.read_text())


def ratio(report: dict, task: str, a: str, b: str, level: float = 0.95) -> tuple[float, float | None, float | None]:
    """cost(b) / cost(a) from one run, with an interval when both have several timing rounds.

    On log round seconds: difference of means with a Welch t interval, exponentiated
    (a ratio of two positive costs; the log keeps its interval positive). Costs are
    proportional to model seconds under the time model, so this is the cost ratio."""
    from pytest_llmselect.stats import t_quantile

    rows = {r["candidate"]: r for t in report["tasks"] if t["name"] == task for r in t["results"]}
    value = rows[b]["cost"] / rows[a]["cost"]
    ra, rb = ([math.log(x) for x in rows[c]["measures"].get("round_seconds") or []] for c in (a, b))
    if len(ra) < 2 or len(rb) < 2:
        return value, None, None
    va, vb = statistics.variance(ra) / len(ra), statistics.variance(rb) / len(rb)
    if va + vb == 0:
        return value, value, value
    df = max(1, int((va + vb) ** 2 / (va**2 / (len(ra) - 1) + vb**2 / (len(rb) - 1))))
    half = t_quantile((1 + level) / 2, df) * math.sqrt(va + vb)
    centre = math.exp(statistics.fmean(rb) - statistics.fmean(ra))
    return value, centre * math.exp(-half), centre * math.exp(half)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="tiny,small")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each order per mode")
    ap.add_argument("--cases", type=int, default=48)
    ap.add_argument("--modes", default="before,after,flops")
    ap.add_argument("--cpu-threads", type=int, default=None, help="pass --llm-cpu-threads=N to every run")
    args = ap.parse_args()
    if args.cpu_threads:
        for flags in MODES.values():
            flags.append(f"--llm-cpu-threads={args.cpu_threads}")
    a, b = (f"zoo:{m}" for m in args.models.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "suite"
        make_suite(root, args.cases)
        modes = args.modes.split(",")
        runs: dict[str, dict[str, list[dict]]] = {mode: {"A first": [], "B first": []} for mode in modes}
        for i in range(args.repeats):  # modes and orders interleave, so drift on the machine hits each alike
            for mode in modes:
                for label, order in (("A first", [a, b]), ("B first", [b, a])):
                    runs[mode][label].append(run(root, order, mode, Path(tmp) / f"{mode}-{label[0]}{i}.json"))
        for mode in modes:
            results = runs[mode]
            print(f"\n## mode {mode}: {' '.join(MODES[mode]) or '(defaults)'}; A = {a}, B = {b}")
            print("| task | order | cost B/A, median | each run: ratio [interval] |")
            print("|---|---|---:|---|")
            for task in ("addition", "largest"):
                per_order = {}
                for label, reports in results.items():
                    rs = [ratio(r, task, a, b) for r in reports]
                    per_order[label] = rs
                    cells = ", ".join(f"{v:.3g}" + (f" [{lo:.3g}, {hi:.3g}]" if lo else "") for v, lo, hi in rs)
                    print(f"| {task} | {label} | {statistics.median(v for v, _, _ in rs):.3g} | {cells} |")
                other = {"A first": "B first", "B first": "A first"}
                inside = sum(1 for label, rs in per_order.items() for _, lo, hi in rs if lo is not None
                             and lo <= statistics.median(v for v, _, _ in per_order[other[label]]) <= hi)
                total = sum(1 for rs in per_order.values() for _, lo, _ in rs if lo is not None)
                if total:
                    print(f"| {task} | agreement | | the other order's median ratio lies inside {inside} of "
                          f"{total} run intervals |")
            selections = [(t["name"], t["selection"]["selected"]) for rs in results.values() for r in rs
                          for t in r["tasks"]] + [("overall", r["selected"]) for rs in results.values() for r in rs]
            for task in ("addition", "largest", "overall"):
                picks = Counter(s for t, s in selections if t == task)
                modal, n_modal = picks.most_common(1)[0]
                print(f"selection {task}: {dict(picks)}; runs off the most common pick: "
                      f"{sum(picks.values()) - n_modal} of {sum(picks.values())}")
            by_order = {label: Counter(r["selected"] for r in rs) for label, rs in results.items()}
            print(f"overall selection by order: {by_order}")


if __name__ == "__main__":
    main()
