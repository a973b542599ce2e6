"""Same generation workload three ways, side by side in one process, repeated and interleaved.

    python benchmarks/bench_batching.py [--suite multiples] [--model base] [--repeats 5] [--batch-size 32]

1. plugin:  ``pytest suites/test_<suite>.py --llm-candidates=zoo:<model>`` in-process (pytest.main),
            wall time of the whole session (collection, one item per case, scoring, report) and,
            separately, the model-work seconds the plugin measured for the group;
2. batched: a hand-written loop: tokenize with left padding, ``model.generate`` in batches of the
            same size (length-sorted like the plugin), decode, cut at the stop string, score;
3. single:  the same loop one case at a time.

Model loading is excluded from every timing (each way loads once before its clock starts,
except the plugin, whose load time is subtracted using its own load measurement). Prints
medians and the ratios plugin/batched and single/batched. Timings on a shared machine are
noisy: compare the ratios, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def load_cases(suite: str) -> list[dict]:
    from pytest_llmselect import load_jsonl

    return load_jsonl(REPO / "suites" / "data" / f"{suite}.jsonl")


MAX_NEW = {"addition": 5, "multiples": 40}


def hand_written(model_dir: str, cases: list[dict], batch_size: int, max_new: int) -> tuple[float, float]:
    """Returns (seconds, mean score) of a plain batched transformers loop."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pytest_llmselect.metrics import exact_match, token_f1

    tok = AutoTokenizer.from_pretrained(model_dir)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    metric = exact_match if max_new <= 5 else token_f1
    start = time.perf_counter()
    order = sorted(range(len(cases)), key=lambda i: len(cases[i]["prompt"]), reverse=True)
    outputs: dict[int, str] = {}
    with torch.inference_mode():
        for b in range(0, len(order), batch_size):
            idx = order[b:b + batch_size]
            enc = tok([cases[i]["prompt"] for i in idx], return_tensors="pt", padding=True)
            out = model.generate(**enc, max_new_tokens=max_new, do_sample=False,
                                 pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
            new = out[:, enc["input_ids"].shape[1]:]
            for i, text in zip(idx, tok.batch_decode(new, skip_special_tokens=True)):
                outputs[i] = text.split("\n", 1)[0]
    score = statistics.mean(metric(outputs[i], c["answer"]) for i, c in enumerate(cases))
    return time.perf_counter() - start, score


def through_plugin(suite: str, model: str, batch_size: int, workdir: Path) -> tuple[float, float, float]:
    """Returns (session seconds minus model load, model-work seconds, mean quality)."""
    import pytest

    report = workdir / "run.json"
    args = [str(REPO / "suites" / f"test_{suite}.py"), f"--llm-candidates=zoo:{model}", "-q", "-p", "no:cacheprovider",
            f"--llm-batch-size={batch_size}", f"--llm-report={report}", "--llm-run-log=", "--benchmark-disable",
            f"--rootdir={REPO}", "-o", "console_output_style=classic",
            # The repository's ini settings are the README's main job (20 cases a task, cost from
            # FLOPs, one torch thread, no warm-up): this comparison keeps every case and the
            # plugin's own defaults.
            "--llm-max-cases=all", "--llm-cost-model=time", "--llm-benchmark-warmup=batch",
            "--llm-latency-sample=8", "--llm-cpu-threads="]
    start = time.perf_counter()
    with open(os.devnull, "w") as sink:
        saved = sys.stdout
        sys.stdout = sink
        try:
            code = pytest.main(args)
        finally:
            sys.stdout = saved
    total = time.perf_counter() - start
    if code not in (0, 1):
        raise SystemExit(f"pytest exited with {code}")
    data = json.loads(report.read_text())
    load = data["candidates"][0]["load_seconds"]
    res = data["tasks"][0]["results"][0]
    return total - load, res["measures"]["model_seconds"], res["quality"]


def one_at_a_time(model_dir: str, cases: list[dict], max_new: int) -> tuple[float, float]:
    return hand_written(model_dir, cases, 1, max_new)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--suite", default="multiples", choices=sorted(MAX_NEW))
    ap.add_argument("--model", default="base")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--single-cases", type=int, default=0, help="cases for one-at-a-time (0: all)")
    args = ap.parse_args()

    from pytest_llmselect.zoo import zoo_path

    model_dir = str(zoo_path(args.model))
    cases = load_cases(args.suite)
    max_new = MAX_NEW[args.suite]
    single_cases = cases[: args.single_cases] if args.single_cases else cases
    import torch  # noqa: F401  - import cost paid before any clock starts

    rows: dict[str, list[float]] = {"plugin": [], "plugin_model_work": [], "batched": [], "single_per_case": []}
    with tempfile.TemporaryDirectory() as tmp:
        through_plugin(args.suite, args.model, args.batch_size, Path(tmp))  # warm-up (caches, allocator)
        for r in range(args.repeats):
            p_total, p_model, p_q = through_plugin(args.suite, args.model, args.batch_size, Path(tmp))
            b_total, b_q = hand_written(model_dir, cases, args.batch_size, max_new)
            s_total, _ = one_at_a_time(model_dir, single_cases, max_new)
            rows["plugin"].append(p_total)
            rows["plugin_model_work"].append(p_model)
            rows["batched"].append(b_total)
            rows["single_per_case"].append(s_total / len(single_cases))
            print(f"repeat {r + 1}: plugin {p_total:.3f}s (model work {p_model:.3f}s, quality {p_q:.3f}), "
                  f"batched {b_total:.3f}s (quality {b_q:.3f}), single {s_total:.3f}s for {len(single_cases)} cases",
                  flush=True)
    med = {k: statistics.median(v) for k, v in rows.items()}
    single_total = med["single_per_case"] * len(cases)
    print()
    print(f"workload: suites/test_{args.suite}.py, {len(cases)} cases, zoo:{args.model}, "
          f"batch size {args.batch_size}, {args.repeats} repeats, torch threads {__import__('torch').get_num_threads()}")
    print(f"median seconds: plugin session {med['plugin']:.3f} | plugin model work {med['plugin_model_work']:.3f} | "
          f"hand-written batched {med['batched']:.3f} | one at a time {single_total:.3f} (extrapolated from "
          f"{len(single_cases)} cases)" if args.single_cases else
          f"median seconds: plugin session {med['plugin']:.3f} | plugin model work {med['plugin_model_work']:.3f} | "
          f"hand-written batched {med['batched']:.3f} | one at a time {single_total:.3f}")
    print(f"ratio plugin session / batched loop: {med['plugin'] / med['batched']:.3f}  (target <= 1.10)")
    print(f"ratio plugin model work / batched loop: {med['plugin_model_work'] / med['batched']:.3f}")
    print(f"ratio one at a time / batched loop: {single_total / med['batched']:.3f}")


if __name__ == "__main__":
    main()
