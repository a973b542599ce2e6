"""Compare two JSON selection reports field for field, ignoring only what differs between
any two runs of the same code.

    # two reports already written
    python benchmarks/compare_reports.py before.json after.json

    # run the bundled suites with each tree's own code, then compare
    python benchmarks/compare_reports.py --run BEFORE_TREE AFTER_TREE [--out DIR]

``--run`` runs ``python -m pytest suites/ --llm-cost-model=flops --llm-report=DIR/NAME.json``
in each tree with that tree first on ``PYTHONPATH``, each with a fresh, empty response cache
and no run log (so neither run is served what the other computed) and one torch thread (a
machine shared with other work), then compares the two reports. The flops cost model
makes cost exact, so the selection does not depend on timings.

Ignored, wherever they appear (inherently run-specific):

- ``created``, ``run_id``: when and which run;
- ``load_average_1min`` (in ``machine``): how busy the machine was at the end;
- wall-clock and machine-state measures: ``model_seconds``, ``round_seconds``,
  ``warmup_seconds``, ``load_seconds``, ``latency_p50``/``_p95``, ``ttft_p50`` (and its
  ``_lo``/``_hi``), ``request_latency_p50``/``_p95`` (and their ``_lo``/``_hi``),
  ``tokens_per_second``, ``output_tokens_per_second``, ``energy_joules`` and
  ``peak_memory_bytes`` (what the process holds varies with what ran before).

Everything else must be equal: scores, outputs, case ids and order, counts, missing cases,
intervals, costs, the selection, token counts, batches, flops, candidates' facts. Exit
status 0 when the reports agree, 1 when they differ (each difference printed as its path,
then both values), 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

RUN_SPECIFIC = frozenset({
    "created", "run_id", "load_average_1min",
    "model_seconds", "round_seconds", "warmup_seconds", "load_seconds",
    "latency_p50", "latency_p95", "ttft_p50", "ttft_p50_lo", "ttft_p50_hi",
    "request_latency_p50", "request_latency_p95", "request_latency_p50_lo", "request_latency_p50_hi",
    "request_latency_p95_lo", "request_latency_p95_hi",
    "tokens_per_second", "output_tokens_per_second", "energy_joules", "peak_memory_bytes",
})


def differences(a: Any, b: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """``(path, a's value, b's value)`` for every field that differs, skipping ``RUN_SPECIFIC`` keys."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            if key in RUN_SPECIFIC:
                continue
            where = f"{path}.{key}" if path else str(key)
            if key not in a or key not in b:
                yield where, a.get(key, "<absent>"), b.get(key, "<absent>")
            else:
                yield from differences(a[key], b[key], where)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            yield f"{path} (length)", len(a), len(b)
        for i, (x, y) in enumerate(zip(a, b)):
            yield from differences(x, y, f"{path}[{i}]")
    elif type(a) is not type(b) or a != b:
        if not (a != a and b != b):  # NaN equals NaN here
            yield path, a, b


def load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SystemExit(f"compare_reports: cannot read the report {path}: {exc}") from None


def run_suites(tree: Path, report: Path, scratch: Path) -> None:
    """The bundled suites with ``tree``'s code, written to ``report``."""
    path = os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env = {**os.environ, "PYTHONPATH": path}
    cache = scratch / f"cache-{report.stem}.sqlite"
    cmd = [sys.executable, "-m", "pytest", "suites/", "--llm-cost-model=flops", f"--llm-report={report}",
           f"--llm-cache-path={cache}", "--llm-run-log=", "--llm-cpu-threads=1", "-p", "no:cacheprovider", "-q"]
    print(f"compare_reports: in {tree}: {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
    done = subprocess.run(cmd, cwd=tree, env=env)
    if not report.is_file():
        raise SystemExit(f"compare_reports: the run in {tree} wrote no report (exit status {done.returncode})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path, help="a report, or with --run a source tree")
    parser.add_argument("after", type=Path, help="a report, or with --run a source tree")
    parser.add_argument("--run", action="store_true", help="run the bundled suites in each tree first")
    parser.add_argument("--out", type=Path, help="with --run: where the two reports go (default: a temporary folder)")
    args = parser.parse_args(argv)
    if args.run:
        out = (args.out or Path(tempfile.mkdtemp(prefix="compare-reports-"))).absolute()
        out.mkdir(parents=True, exist_ok=True)
        paths = (out / "before.json", out / "after.json")
        for tree, report in zip((args.before, args.after), paths):
            if not (tree / "suites").is_dir():
                print(f"compare_reports: {tree} has no suites/ folder", file=sys.stderr)
                return 2
            run_suites(tree.absolute(), report, out)
    else:
        paths = (args.before, args.after)
    a, b = load(paths[0]), load(paths[1])
    found = list(differences(a, b))
    for where, x, y in found:
        print(f"{where}: {x!r} != {y!r}")
    n_cases = len(a.get("cases") or []) if isinstance(a, dict) else 0
    print(f"compare_reports: {paths[0]} vs {paths[1]}: {len(found)} difference(s) "
          f"({n_cases} cases; ignored: {', '.join(sorted(RUN_SPECIFIC))})")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
