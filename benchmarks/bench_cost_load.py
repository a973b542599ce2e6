"""Which clock keeps a cost comparison steady on a busy machine?

    python benchmarks/bench_cost_load.py [--runs 6] [--rounds 3] [--suite addition]

Times zoo:small and zoo:tiny on one suite's prompts, in ``--runs`` runs that alternate the
order (small first, then tiny first), each candidate with one warm-up round and ``--rounds``
timed rounds, as the plugin does by default (torch's default thread count). Every round is
timed three ways: wall time (``perf_counter``, what the cost model used), the process's CPU
time (``process_time``: all its threads, not the time other processes held the cores), and
wall time normalised by a fixed reference workload timed just before and after the round
(``costmodel.normalised_rounds``). Prints, per clock, each run's cost ratio small/tiny and
the spread (largest ratio / smallest) over the runs. Run it while the machine is busy.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def reference_seconds() -> float:
    """A fixed CPU workload of the same kind as a small model's forward pass."""
    import torch

    torch.manual_seed(0)
    a = torch.randn(96, 96)
    start = time.perf_counter()
    for _ in range(60):
        a = torch.tanh(a @ a * 0.01)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--suite", default="addition")
    ap.add_argument("--cases", type=int, default=64)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    a = ap.parse_args()

    import torch

    if a.threads:
        torch.set_num_threads(a.threads)

    from pytest_llmselect import load_jsonl
    from pytest_llmselect.backends.base import GenerateRequest
    from pytest_llmselect.backends.hf import HFBackend
    from pytest_llmselect.costmodel import normalised_rounds
    from pytest_llmselect.zoo import zoo_path

    cases = load_jsonl(REPO / "suites" / "data" / f"{a.suite}.jsonl")[: a.cases]
    reqs = [GenerateRequest(c["prompt"], max_new_tokens=5, stop=("\n",)) for c in cases]
    models = {name: HFBackend.load(str(zoo_path(name)), display_name=f"zoo:{name}") for name in ("small", "tiny")}
    nominal = statistics.median(reference_seconds() for _ in range(5))
    print(f"torch threads: {torch.get_num_threads()}; reference workload {nominal * 1000:.1f} ms at start")
    ratios: dict[str, list[float]] = {"wall": [], "process CPU": [], "reference-normalised wall": []}
    for run in range(a.runs):
        order = ["small", "tiny"] if run % 2 == 0 else ["tiny", "small"]
        per: dict[str, dict[str, float]] = {}
        for name in order:
            backend = models[name]
            backend.generate(reqs)  # warm-up
            wall, cpu, ref = [], [], []
            for _ in range(a.rounds):
                before = reference_seconds()
                w0, c0 = time.perf_counter(), time.process_time()
                backend.generate(reqs)
                wall.append(time.perf_counter() - w0)
                cpu.append(time.process_time() - c0)
                ref.append((before + reference_seconds()) / 2.0)
            per[name] = {"wall": statistics.fmean(wall), "process CPU": statistics.fmean(cpu),
                         "reference-normalised wall": statistics.fmean(normalised_rounds(wall, ref, nominal))}
        for clock in ratios:
            ratios[clock].append(per["small"][clock] / per["tiny"][clock])
        print(f"run {run + 1} ({' then '.join(order)}): " + "; ".join(
            f"{clock} {ratios[clock][-1]:.2f}" for clock in ratios) + " (seconds small/tiny: " + "; ".join(
            f"{per['small'][c]:.3f}/{per['tiny'][c]:.3f}" for c in ratios) + ")", flush=True)
    print("\n| clock | ratio small/tiny per run | spread (max / min) |")
    print("|---|---|---:|")
    for clock, rs in ratios.items():
        print(f"| {clock} | {', '.join(f'{r:.2f}' for r in rs)} | {max(rs) / min(rs):.2f}x |")


if __name__ == "__main__":
    main()
