"""Judging 1,000 outputs through the plugin's judge against a hand-written batched loop.

    python benchmarks/bench_judge.py [--judge zoo:small] [--n 1000] [--batch-size 64] [--repeats 3] [--threads 1]

Both ways grade the same 1,000 (input, output, reference) triples with the G-Eval rubric
template on one loaded judge model (loaded before either clock starts), making the same
requests: five log-likelihood requests per output (" 1" .. " 5" after the rendered prompt).

1. ``JudgeRunner.grade_many``: what ``llm_judge`` does for a group (render, build the
   requests, the engine's length-sorted batches, read each grade), response cache off;
2. a hand-written loop: render each prompt, the same requests sorted by length, one
   ``backend.loglikelihood`` call per batch of the same size, the expectation by hand.

Repeats are interleaved (A, B, A, B, ...); reported: CPU seconds of the process
(``time.process_time``) for each way, their medians and the ratio; the grades of both
ways must agree.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time


def fields(n: int) -> list[dict[str, str]]:
    words = ["the cat sat on the mat", "a dog ran home", "rain fell all day", "prices rose again",
             "the bridge was closed", "she wrote a letter"]
    out = []
    for i in range(n):
        a, b = words[i % len(words)], words[(i * 7 + 3) % len(words)]
        out.append({"input": f"Summarise in a few words: {a}, and then {b}. (item {i})",
                    "output": f"{a} {i}", "reference": f"{a}; {b}"})
    return out


def hand_loop(backend, template, items, batch_size: int) -> list[float]:
    from pytest_llmselect.backends.base import LoglikelihoodRequest

    prompts = [template.render(f) for f in items]
    requests = [LoglikelihoodRequest(p, f" {s}") for p in prompts for s in range(1, 6)]
    order = sorted(range(len(requests)), key=lambda i: len(requests[i].context) + 2, reverse=True)
    logprobs = [0.0] * len(requests)
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        for i, res in zip(rows, backend.loglikelihood([requests[i] for i in rows], batch_size=len(rows))):
            logprobs[i] = res.logprob
    grades = []
    for k in range(len(prompts)):
        lps = logprobs[5 * k:5 * k + 5]
        top = max(lps)
        w = [math.exp(lp - top) for lp in lps]
        grades.append((sum((s + 1) * x for s, x in enumerate(w)) / sum(w) - 1) / 4)
    return grades


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--judge", default="zoo:small")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from pytest_llmselect.backends import load_backend, resolve_source
    from pytest_llmselect.candidates import parse_spec
    from pytest_llmselect.judge.prompts import RUBRIC
    from pytest_llmselect.judge.runner import JudgeRunner

    cand = parse_spec(args.judge)
    backend = load_backend(cand, source=resolve_source(cand))
    items = fields(args.n)
    plugin_s, hand_s = [], []
    for _ in range(args.repeats):
        judge = JudgeRunner(cand, cache=None, batch_size=args.batch_size, method="logprobs",
                            loader=lambda *a, **k: backend)
        t0 = time.process_time()
        grades = judge.grade_many(RUBRIC, items)
        plugin_s.append(time.process_time() - t0)
        t0 = time.process_time()
        hand = hand_loop(backend, RUBRIC, items, args.batch_size)
        hand_s.append(time.process_time() - t0)
        assert judge.measures.requests == 5 * args.n
        worst = max(abs(g.score - h) for g, h in zip(grades, hand))
        assert worst < 1e-4, worst
    result = {"judge": args.judge, "n": args.n, "requests": 5 * args.n, "batch_size": args.batch_size,
              "threads": args.threads, "plugin_cpu_s": plugin_s, "hand_cpu_s": hand_s,
              "plugin_median": statistics.median(plugin_s), "hand_median": statistics.median(hand_s),
              "ratio": statistics.median(plugin_s) / statistics.median(hand_s)}
    print(json.dumps(result, indent=2))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
