"""The plugin's whole pytest process against a hand-written batched loop, side by side.

    python benchmarks/bench_overhead.py [--model base] [--repeats 3] [--batch-size 32] [--threads 1] [--out result.json]

Workload (written to a temporary folder as two suites): 400 multiple-choice cases
scored by log-likelihood (4 choices each: 1,600 log-likelihood requests) and 400
greedy generations (two-digit addition, up to 5 new tokens), on one zoo model.

Each repeat runs, interleaved, as separate fresh processes:

1. ``pytest`` on the two suites with ``--llm-candidates=zoo:<model>`` (everything a
   user's run does: start-up, collection, 800 items, scoring, report), doing the work
   once as the loop does: ``--llm-cache=off`` (a later repeat would be served from the
   response cache), one timed round, no warm-up, no latency sample (the defaults' extra
   rounds are measurement the loop does not do);
2. a hand-written script doing the same work: import torch and transformers, load the
   model, length-sorted batches of the same size, one forward pass per log-likelihood
   batch, ``model.generate`` per generation batch, score;
3. start-up probes: ``python -c pass``, bare pytest (our plugins and pytest-benchmark
   off) and pytest with the plugin, each on a one-test file.

Reported (medians over the repeats): the whole-process ratio pytest / hand loop;
the plugin's start-up beyond bare pytest; model seconds of each way (the plugin's from
its report, the loop's from its own clock); and the per-item overhead,

    (T_pytest - T_hand - (startup_plugin - startup_python) - (load_p - load_h) - (model_p - model_h)) / 800

i.e. whatever the pytest process spends beyond the hand loop that is not start-up,
loading or model work (collection, per-item hooks and fixtures, records, the report),
spread over the items (the CPU-based figure uses CPU seconds throughout, the model's
counted inside each process). Timings on a shared machine are noisy: compare ratios. Each
process's CPU seconds (user + system, from ``getrusage``) are reported beside its wall
seconds, with the same ratio and per-item formula: they move much less when other jobs
compete for the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
N_CHOICE = N_GENERATE = 400

CHOICE_SUITE = '''
from pathlib import Path
import pytest
from pytest_llmselect import case_ids, choice_requests, load_jsonl

CASES = load_jsonl(Path(__file__).parent / "data" / "choice.jsonl")

@pytest.mark.llm_task("choice", metric="choice_accuracy",
                      requests=lambda case: choice_requests(case["context"], case["choices"]))
@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_choice(llm, llm_record, case):
    picked = llm.choose(case["context"], case["choices"])
    llm_record(float(picked == case["answer"]), output=case["choices"][picked])
'''

GENERATE_SUITE = '''
from pathlib import Path
import pytest
from pytest_llmselect import GenerateRequest, case_ids, exact_match, load_jsonl

CASES = load_jsonl(Path(__file__).parent / "data" / "generate.jsonl")

def request(case):
    return GenerateRequest(case["prompt"], max_new_tokens=5, stop=("\\n",))

@pytest.mark.llm_task("generate", metric="exact_match", requests=request)
@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_generate(llm, llm_record, case):
    output = llm.run(request(case)).text
    llm_record(exact_match(output, case["answer"]), output=output)
'''


# Loaded into the pytest run with -p: adds up the CPU seconds of the plugin's batched model
# work (process_time around the engine's run_requests) and writes them next to the report.
MODEL_CPU_PROBE = '''
import json, time
import pytest_llmselect.run.runner as session

_total = [0.0]
_run = session.run_requests

def _timed(*args, **kwargs):
    start = time.process_time()
    try:
        return _run(*args, **kwargs)
    finally:
        _total[0] += time.process_time() - start

session.run_requests = _timed

def pytest_unconfigure(config):
    with open("model_cpu.json", "w") as out:
        json.dump({"model_cpu_seconds": _total[0]}, out)
'''


def write_workload(folder: Path) -> None:
    from pytest_llmselect.zoo.tasks import addition_prompt, largest_context

    rng = random.Random(0)
    data = folder / "data"
    data.mkdir(parents=True)
    with open(data / "choice.jsonl", "w", encoding="utf-8") as out:
        for i in range(N_CHOICE):
            numbers = tuple(rng.sample(range(10, 100), 4))
            out.write(json.dumps({"id": f"c{i:03d}", "context": largest_context(numbers),
                                  "choices": [f" {n}" for n in numbers],
                                  "answer": numbers.index(max(numbers))}) + "\n")
    with open(data / "generate.jsonl", "w", encoding="utf-8") as out:
        for i in range(N_GENERATE):
            a, b = rng.randrange(100), rng.randrange(100)
            out.write(json.dumps({"id": f"g{i:03d}", "prompt": addition_prompt(a, b), "answer": str(a + b)}) + "\n")
    (folder / "test_choice.py").write_text(CHOICE_SUITE, encoding="utf-8")
    (folder / "test_generate.py").write_text(GENERATE_SUITE, encoding="utf-8")
    (folder / "llmselect_model_cpu_probe.py").write_text(MODEL_CPU_PROBE, encoding="utf-8")
    probe = folder / "probe"
    probe.mkdir()
    (probe / "test_one.py").write_text("def test_one():\n    pass\n", encoding="utf-8")


# ---- the hand-written loop (run as its own process: ``--hand FOLDER``) -----------------

def hand_loop(folder: Path, model_name: str, batch_size: int) -> dict[str, float]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pytest_llmselect.zoo import zoo_path

    path = zoo_path(model_name)
    # The architecture's code is imported before the load clock starts, as the plugin does:
    # "load" is reading the weights, in both ways.
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING

    MODEL_FOR_CAUSAL_LM_MAPPING[type(AutoConfig.from_pretrained(path))]
    start = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    load = time.perf_counter() - start

    def rows(name: str) -> list[dict]:
        return [json.loads(line) for line in (folder / "data" / name).read_text().splitlines()]

    model_seconds = 0.0
    model_cpu = time.process_time()
    # Multiple choice: one log-likelihood per choice, right-padded, one forward pass per batch.
    choice = rows("choice.jsonl")
    pairs = [(c["context"], ch) for c in choice for ch in c["choices"]]
    order = sorted(range(len(pairs)), key=lambda i: -len(pairs[i][0] + pairs[i][1]))
    logprob = [0.0] * len(pairs)
    for i in range(0, len(order), batch_size):
        idx = order[i:i + batch_size]
        t0 = time.perf_counter()
        ctx = [tok(pairs[j][0])["input_ids"] for j in idx]
        full = [c + tok(pairs[j][1])["input_ids"] for c, j in zip(ctx, idx)]
        width = max(map(len, full))
        ids = torch.full((len(full), width), tok.pad_token_id, dtype=torch.long)
        for r, seq in enumerate(full):
            ids[r, :len(seq)] = torch.tensor(seq)
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=ids, attention_mask=ids.ne(tok.pad_token_id)).logits.float(), -1)
        for r, (c, seq) in enumerate(zip(ctx, full)):
            targets = torch.tensor(seq[len(c):])
            logprob[idx[r]] = float(logp[r, len(c) - 1:len(seq) - 1].gather(1, targets[:, None]).sum())
        model_seconds += time.perf_counter() - t0
    correct = 0
    for k, case in enumerate(choice):
        scores = logprob[4 * k:4 * k + 4]
        correct += scores.index(max(scores)) == case["answer"]
    choice_acc = correct / len(choice)

    # Generation: left-padded, greedy, cut at the first newline.
    gen = rows("generate.jsonl")
    order = sorted(range(len(gen)), key=lambda i: -len(gen[i]["prompt"]))
    tok.padding_side = "left"
    outputs = [""] * len(gen)
    for i in range(0, len(order), batch_size):
        idx = order[i:i + batch_size]
        t0 = time.perf_counter()
        enc = tok([gen[j]["prompt"] for j in idx], return_tensors="pt", padding=True)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=5, do_sample=False, pad_token_id=tok.pad_token_id,
                                 eos_token_id=tok.eos_token_id)
        texts = tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        for j, text in zip(idx, texts):
            outputs[j] = text.split("\n", 1)[0]
        model_seconds += time.perf_counter() - t0
    gen_acc = sum(o.strip() == c["answer"] for o, c in zip(outputs, gen)) / len(gen)
    # CPU seconds of the model work (and the little scoring between batches).
    model_cpu = time.process_time() - model_cpu
    return {"load_seconds": load, "model_seconds": model_seconds, "model_cpu_seconds": model_cpu,
            "choice": choice_acc, "generate": gen_acc}


# ---- the side-by-side driver -----------------------------------------------------------

CPU: dict[str, float] = {}  # CPU seconds (user + system) of the last command of each label


THREADS = {"n": 1}


def timed(cmd: list[str], cwd: Path, label: str = "") -> tuple[float, str]:
    """Wall seconds of ``cmd`` run to completion (and its CPU seconds in ``CPU[label]``)."""
    # The same intra-op threads in both ways. One by default: idle OpenMP threads spin
    # when other jobs hold the cores, which makes CPU and wall seconds both erratic.
    env = {**os.environ, "OMP_NUM_THREADS": str(THREADS["n"])}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU[label] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode not in (0,):
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return seconds, done.stdout


def one_round(folder: Path, model: str, batch_size: int) -> dict[str, float]:
    py = sys.executable
    out: dict[str, float] = {}
    out["hand_s"], text = timed([py, __file__, "--hand", str(folder), "--model", model,
                                 "--batch-size", str(batch_size)], folder, "hand")
    hand = json.loads(text.strip().splitlines()[-1])
    out.update({"hand_model_s": hand["model_seconds"], "hand_load_s": hand["load_seconds"],
                "hand_model_cpu_s": hand["model_cpu_seconds"],
                "hand_choice": hand["choice"], "hand_generate": hand["generate"]})

    report = folder / "run.json"
    out["pytest_s"], _ = timed([py, "-m", "pytest", "test_choice.py", "test_generate.py", "-p", "no:cacheprovider",
                                "-p", "llmselect_model_cpu_probe",
                                f"--llm-candidates=zoo:{model}", f"--llm-batch-size={batch_size}",
                                # the same work as the hand loop, once: no response cache (later
                                # repeats would be cache hits), one timed round, no warm-up or
                                # latency sample (the defaults run the work about 4 times)
                                "--llm-cache=off", "--llm-benchmark-rounds=1", "--llm-benchmark-warmup=0",
                                "--llm-latency-sample=0", f"--llm-report={report}"], folder, "pytest")
    rep = json.loads(report.read_text())
    out["pytest_model_cpu_s"] = json.loads((folder / "model_cpu.json").read_text())["model_cpu_seconds"]
    out["pytest_model_s"] = sum(r["measures"]["model_seconds"] for t in rep["tasks"] for r in t["results"])
    out["pytest_load_s"] = sum(c.get("load_seconds") or 0.0 for c in rep["candidates"])
    quality = {t["name"]: t["results"][0]["quality"] for t in rep["tasks"]}
    out["pytest_choice"], out["pytest_generate"] = quality["choice"], quality["generate"]

    probe = folder / "probe"
    out["python_startup_s"], _ = timed([py, "-c", "pass"], probe, "python_startup")
    out["bare_pytest_startup_s"], _ = timed([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:llmselect",
                                             "-p", "no:llmselect_gate", "-p", "no:benchmark", "test_one.py"], probe,
                                            "bare_pytest_startup")
    out["plugin_pytest_startup_s"], _ = timed([py, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                               f"--llm-candidates=zoo:{model}", "test_one.py"], probe,
                                              "plugin_pytest_startup")
    out.update({f"{label}_cpu_s": seconds for label, seconds in CPU.items()})
    return out


def summarise(rounds: list[dict[str, float]]) -> dict[str, float]:
    med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    n_items = N_CHOICE + N_GENERATE
    per_item = [
        (r["pytest_s"] - r["hand_s"] - (r["plugin_pytest_startup_s"] - r["python_startup_s"])
         - (r["pytest_load_s"] - r["hand_load_s"]) - (r["pytest_model_s"] - r["hand_model_s"])) / n_items
        for r in rounds
    ]
    ratios = [r["pytest_s"] / r["hand_s"] for r in rounds]
    # CPU seconds are steadier than wall seconds on a shared machine: reported beside them.
    per_item_cpu = [
        (r["pytest_cpu_s"] - r["hand_cpu_s"] - (r["plugin_pytest_startup_cpu_s"] - r["python_startup_cpu_s"])
         - (r["pytest_load_s"] - r["hand_load_s"]) - (r["pytest_model_cpu_s"] - r["hand_model_cpu_s"])) / n_items
        for r in rounds
    ]
    med.update({
        "whole_process_ratio": statistics.median(ratios),
        "whole_process_ratio_min": min(ratios), "whole_process_ratio_max": max(ratios),
        "plugin_startup_beyond_bare_s": statistics.median(
            r["plugin_pytest_startup_s"] - r["bare_pytest_startup_s"] for r in rounds),
        "per_item_overhead_ms": 1000 * statistics.median(per_item),
        "whole_process_cpu_ratio": statistics.median(r["pytest_cpu_s"] / r["hand_cpu_s"] for r in rounds),
        "plugin_startup_beyond_bare_cpu_s": statistics.median(
            r["plugin_pytest_startup_cpu_s"] - r["bare_pytest_startup_cpu_s"] for r in rounds),
        "per_item_overhead_cpu_ms": 1000 * statistics.median(per_item_cpu),
        "model_time_ratio": statistics.median(r["pytest_model_s"] / r["hand_model_s"] for r in rounds),
    })
    return med


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="base")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads of both ways (default 1)")
    parser.add_argument("--out", type=Path, default=None, help="also write every round and the summary here")
    parser.add_argument("--hand", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hand is not None:
        print(json.dumps(hand_loop(args.hand, args.model, args.batch_size)))
        return 0

    from pytest_llmselect.zoo import zoo_path

    THREADS["n"] = args.threads
    zoo_path(args.model)  # built before any clock starts
    rounds = []
    with tempfile.TemporaryDirectory(prefix="llmselect-overhead-") as tmp:
        folder = Path(tmp)
        write_workload(folder)
        for i in range(args.repeats):
            rounds.append(one_round(folder, args.model, args.batch_size))
            print(f"round {i + 1}: " + ", ".join(f"{k}={v:.3f}" for k, v in rounds[-1].items()), flush=True)
    summary = summarise(rounds)
    print()
    print(f"workload: {N_CHOICE} multiple-choice (log-likelihood, 4 choices) + {N_GENERATE} generations, "
          f"zoo:{args.model}, batch size {args.batch_size}, {args.threads} torch thread(s), "
          f"{args.repeats} interleaved rounds, medians; {os.cpu_count()} CPUs")
    rows = [
        ("whole process, pytest with the plugin (s)", summary["pytest_s"]),
        ("whole process, hand-written batched loop (s)", summary["hand_s"]),
        ("ratio pytest / hand loop (target <= 1.25)", summary["whole_process_ratio"]),
        ("model seconds, plugin (its report)", summary["pytest_model_s"]),
        ("model seconds, hand loop", summary["hand_model_s"]),
        ("load seconds, plugin / hand loop", f"{summary['pytest_load_s']:.3f} / {summary['hand_load_s']:.3f}"),
        ("start-up: python -c pass (s)", summary["python_startup_s"]),
        ("start-up: bare pytest, one test (s)", summary["bare_pytest_startup_s"]),
        ("start-up: pytest with the plugin, one test (s)", summary["plugin_pytest_startup_s"]),
        ("plugin start-up beyond bare pytest (s, target < 0.5)", summary["plugin_startup_beyond_bare_s"]),
        ("per-item overhead (ms, target < 0.5)", summary["per_item_overhead_ms"]),
        ("CPU seconds pytest / hand loop", f"{summary['pytest_cpu_s']:.2f} / {summary['hand_cpu_s']:.2f}"),
        ("model CPU seconds plugin / hand loop",
         f"{summary['pytest_model_cpu_s']:.2f} / {summary['hand_model_cpu_s']:.2f}"),
        ("CPU ratio pytest / hand loop", summary["whole_process_cpu_ratio"]),
        ("CPU start-up: bare pytest / with the plugin (s)",
         f"{summary['bare_pytest_startup_cpu_s']:.3f} / {summary['plugin_pytest_startup_cpu_s']:.3f}"),
        ("plugin start-up beyond bare pytest, CPU (s)", summary["plugin_startup_beyond_bare_cpu_s"]),
        ("per-item overhead, CPU-based (ms)", summary["per_item_overhead_cpu_ms"]),
        ("quality choice / generate, plugin",
         f"{summary['pytest_choice']:.3f} / {summary['pytest_generate']:.3f}"),
        ("quality choice / generate, hand loop", f"{summary['hand_choice']:.3f} / {summary['hand_generate']:.3f}"),
    ]
    for label, value in rows:
        print(f"  {label:<55} {value if isinstance(value, str) else f'{value:.3f}'}")
    if args.out is not None:
        args.out.write_text(json.dumps({"rounds": rounds, "summary": summary}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
