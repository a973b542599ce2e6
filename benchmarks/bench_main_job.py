"""The README's main job against a hand-written loop doing the same model work once.

    python benchmarks/bench_main_job.py [--repeats 3] [--out result.json] [--requests CACHE.sqlite]

The main job is ``python3 -m pytest suites/ --llm-report=run.json --llm-report=run.md
--llm-report=run.html`` with the defaults of suites/pytest.ini (five candidates: four zoo
models and SmolLM2-135M from its GGUF file; flops cost model, so one timed round; 20 cases
per task; one torch thread; no warm-up, no latency sample).

First (not timed) the main job runs once with a response cache in a temporary folder: that
SQLite file holds every request the plugin sent to each model, with the batch it went in.
Then each repeat runs, interleaved, as fresh processes:

1. the main job exactly as the README runs it, with ``--llm-cache=off`` (a repeat would be
   served from the response cache) and its reports and run log in a temporary folder;
2. a hand-written script doing the same model work once: import torch and transformers, load
   each model (the zoo's folders; SmolLM2 from the folder the plugin converted its GGUF file
   into, the same float32 weights), then run the very same requests in the very same batches
   read from the cache file: greedy ``generate`` with the request's max new tokens and stop
   strings (chat messages through the chat template), one forward pass per log-likelihood
   batch (left-padded, only the continuation's logits).

The script asserts that the hand loop ran as many requests per model as the plugin's report
counts (``requests`` in each group's measures). Reported: whole-process CPU seconds (user +
system of the process and its children, ``getrusage``) and wall seconds of each way, the
median ratio pytest / hand loop with every repeat's value, the model CPU seconds of each way
(the plugin's summed over its ``run_requests`` calls by a probe plugin loaded with ``-p``,
the loop's around its batches) and the loop's import and load seconds. Also, once: what
loading SmolLM2 straight from its GGUF file (``from_pretrained(gguf_file=...)``, the way a
hand-written script without the plugin's conversion cache would) costs beside loading the
converted folder.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
REPORTS = ("run.json", "run.md", "run.html")

# Loaded into the pytest run with -p: the process's CPU seconds (time.process_time, every
# thread) by phase: until pytest_configure (interpreter, pytest, plugins), configure and
# session start, collection, the test loop and within it the model loads and the batched model work (the
# runner's run_requests), the session's end and within it each report file and the terminal
# summary (pytest's terminal reporter runs it from its own sessionfinish). Written as JSON at pytest_unconfigure; the rest (exit) is the whole process less these.
PHASE_PROBE = '''
import json, os, time
import pytest
import pytest_llmselect.report as report
import pytest_llmselect.run.pool as pool
import pytest_llmselect.run.runner as runner

CPU = {"until configure": 0.0}

def _add(key, start):
    CPU[key] = CPU.get(key, 0.0) + time.process_time() - start

def _wrap(owner, name, key):
    inner = getattr(owner, name)
    def timed(*args, **kwargs):
        start = time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            _add(key if key else "report " + os.path.splitext(str(args[-1]))[1], start)
    setattr(owner, name, timed)

_wrap(runner, "run_requests", "model work")
_wrap(pool.ModelPool, "backend_for", "model loads")
_wrap(report, "write_report", "")

def _phase(key):
    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def wrapper():
        start = time.process_time()
        yield
        _add(key, start)
    return wrapper

@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_collection():
    start = time.process_time()
    CPU["configure"] = start - CPU["until configure"]  # every plugin's configure and session start
    yield
    _add("collection", start)

pytest_runtestloop = _phase("test loop")
pytest_sessionfinish = _phase("session finish")
pytest_terminal_summary = _phase("terminal summary")

@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    CPU["until configure"] = time.process_time()

@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    with open(os.environ["LLMSELECT_PHASES_OUT"], "w") as out:
        json.dump({**CPU, "plugin": report.__file__}, out)
'''


# ---- the requests the plugin sent, read from its response cache -----------------------

def stored_batches(cache: Path) -> dict[str, list[list[dict[str, Any]]]]:
    """Per candidate (the cache's label: its name and the folder it was loaded from): its
    batches of requests, in the order they were computed, each request as the cache stores it
    (``kind`` and its fields) with the plugin's answer under ``"answer"``."""
    with sqlite3.connect(f"{cache.resolve().as_uri()}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT m.label, r.request, r.result, r.batch_id FROM results r JOIN models m "
                          "ON m.model_key = r.model_key ORDER BY r.created, r.rowid").fetchall()
    batches: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for label, request, result, batch_id in rows:
        batches.setdefault(label, {}).setdefault(batch_id, []).append({**json.loads(request),
                                                                       "answer": json.loads(result)})
    return {label: list(by_id.values()) for label, by_id in batches.items()}


def split_label(label: str) -> tuple[str, str]:
    """(candidate name, model folder) of a cache label such as ``zoo:base (/path/to/folder)``."""
    name, _, folder = label.partition(" (")
    return name, folder.removesuffix(")")


def report_requests(report: Path) -> dict[str, int]:
    """Requests per candidate, summed over its (task, candidate) groups in a JSON report."""
    data = json.loads(report.read_text(encoding="utf-8"))
    counts: dict[str, int] = {}
    for task in data["tasks"]:
        for result in task["results"]:
            counts[result["candidate"]] = counts.get(result["candidate"], 0) + int(
                (result.get("measures") or {}).get("requests") or 0)
    return counts


# ---- the hand-written loop (run as its own process: ``--hand CACHE``) ------------------

def hand_loop(cache: Path) -> dict[str, Any]:
    clock = time.process_time()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)
    out: dict[str, Any] = {"import_cpu_s": time.process_time() - clock, "load_cpu_s": 0.0,
                           "model_cpu_s": 0.0, "model_s": 0.0, "requests": {}, "same_answers": {}}
    for label, batches in stored_batches(cache).items():
        name, folder = split_label(label)
        clock = time.process_time()
        tok = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        tok.padding_side = "left"
        out["load_cpu_s"] += time.process_time() - clock
        clock, wall = time.process_time(), time.perf_counter()
        answers: list[tuple[dict[str, Any], str | float]] = []
        with torch.no_grad():
            for batch in batches:
                run = generate if batch[0]["kind"] == "GenerateRequest" else loglikelihood
                answers.extend(zip(batch, run(model, tok, batch)))
        out["model_cpu_s"] += time.process_time() - clock
        out["model_s"] += time.perf_counter() - wall
        out["requests"][name] = sum(map(len, batches))
        # The same work: the plugin's answer (its text, or its log-likelihood to float noise).
        out["same_answers"][name] = sum(
            a == req["answer"]["text"] if isinstance(a, str) else abs(a - req["answer"]["logprob"]) < 1e-3
            for req, a in answers)
        del model
    return out


def left_pad(rows: list[list[int]], pad_id: int) -> tuple[Any, Any]:
    import torch

    width = max(map(len, rows))
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row):] = torch.tensor(row)
        mask[i, width - len(row):] = 1
    return ids, mask


def generate(model: Any, tok: Any, batch: list[dict[str, Any]]) -> list[str]:
    rows = []
    for req in batch:
        if req.get("messages"):
            text = tok.apply_chat_template(req["messages"], tokenize=False, add_generation_prompt=True)
            rows.append(tok(text, add_special_tokens=False)["input_ids"])
        else:
            rows.append(tok(req["prompt"])["input_ids"])
    ids, mask = left_pad(rows, tok.pad_token_id)
    stops = sorted({s for req in batch for s in req.get("stop") or () if s})
    new = model.generate(input_ids=ids, attention_mask=mask, do_sample=False, num_beams=1,
                         max_new_tokens=max(req["max_new_tokens"] for req in batch),
                         pad_token_id=tok.pad_token_id, stop_strings=stops or None, tokenizer=tok)
    texts = tok.batch_decode(new[:, ids.shape[1]:], skip_special_tokens=True)
    return [min((t.split(s, 1)[0] for s in stops), key=len) if stops else t for t in texts]


def loglikelihood(model: Any, tok: Any, batch: list[dict[str, Any]]) -> list[float]:
    import torch

    inputs, targets = [], []
    for req in batch:
        context, continuation = req["context"], req["continuation"]
        cut = len(context) - len(context.rstrip())  # trailing whitespace joins the continuation
        context, continuation = context[:len(context) - cut], context[len(context) - cut:] + continuation
        ctx = tok(context, add_special_tokens=False)["input_ids"] or [tok.eos_token_id]
        cont = tok(continuation, add_special_tokens=False)["input_ids"]
        inputs.append((ctx + cont)[:-1])
        targets.append(cont)
    ids, mask = left_pad(inputs, tok.pad_token_id)
    keep = max(map(len, targets))
    logits = model(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
                   use_cache=False, logits_to_keep=keep).logits
    logprobs = torch.log_softmax(logits[:, -keep:].float(), dim=-1)
    return [float(logprobs[i, keep - len(t):].gather(1, torch.tensor(t)[:, None]).sum())
            for i, t in enumerate(targets)]


def gguf_load_probe() -> dict[str, float]:
    """CPU seconds of loading SmolLM2 straight from its GGUF file and from the converted folder."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pytest_llmselect.zoo.bundled import bundled_file

    torch.set_num_threads(1)
    path = bundled_file("smollm2-135m")
    clock = time.process_time()
    AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    gguf_s = time.process_time() - clock
    from pytest_llmselect.backends.gguf import converted_path

    folder = converted_path(path)
    clock = time.process_time()
    AutoTokenizer.from_pretrained(folder)
    AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    return {"gguf_file_load_cpu_s": gguf_s, "converted_load_cpu_s": time.process_time() - clock}


# ---- the side-by-side driver -----------------------------------------------------------

def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(CPU seconds of the process and its children, wall seconds, stdout) of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall, done.stdout


def main_job(folder: Path, env: dict[str, str], *cache: str, python: tuple[str, ...] = ()) -> tuple[float, float]:
    """The README's main job, reports and run log into ``folder``: (CPU, wall) seconds."""
    reports = [f"--llm-report={folder / name}" for name in REPORTS]
    cpu, wall, _ = run([sys.executable, *python, "-m", "pytest", "suites/", *reports, *cache,
                        f"--llm-run-log={folder / 'run-log.jsonl'}"], env)
    return cpu, wall


def check_counts(plugin: dict[str, int], hand: dict[str, int], what: str) -> None:
    ran = {name: n for name, n in plugin.items() if n}
    if ran != hand:
        raise SystemExit(f"request counts differ ({what}): plugin report {ran}, hand loop {hand}")


def one_round(tmp: Path, cache: Path, env: dict[str, str], i: int, baseline: Path | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    folder = tmp / f"round-{i}"
    folder.mkdir()
    probe_out = folder / "phases.json"
    pytest_env = {**env, "LLMSELECT_PHASES_OUT": str(probe_out)}
    # Which way runs first alternates, so a slow spell of the shared machine is shared out.
    ways = ["pytest", "hand"] if i % 2 == 0 else ["hand", "pytest"]
    if baseline is not None:  # the same job with the plugin from another tree (before a change)
        ways.insert(i % 3, "baseline")
    for way in ways:
        if way == "baseline":
            base = folder / "baseline"
            base.mkdir()
            base_env = {**pytest_env, "LLMSELECT_PHASES_OUT": str(base / "phases.json"),
                        "PYTHONPATH": os.pathsep.join((str(tmp), str(baseline)))}
            # -P: python -m puts the working directory (this tree) first on the path, before PYTHONPATH.
            out["baseline_cpu_s"], out["baseline_s"] = main_job(base, base_env, "--llm-cache=off", "-p",
                                                                "llmselect_phase_probe", python=("-P",))
        elif way == "pytest":
            out["pytest_cpu_s"], out["pytest_s"] = main_job(folder, pytest_env, "--llm-cache=off", "-p",
                                                            "llmselect_phase_probe")
        else:
            out["hand_cpu_s"], out["hand_s"], text = run([sys.executable, __file__, "--hand", str(cache)], env)
            hand = json.loads(text.strip().splitlines()[-1])
            out.update({f"hand_{k}": v for k, v in hand.items()})
    report = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    out["pytest_model_s"] = sum(r["measures"].get("model_seconds") or 0.0
                                for t in report["tasks"] for r in t["results"])
    out["pytest_load_s"] = sum(c.get("load_seconds") or 0.0 for c in report["candidates"])
    phases = json.loads(probe_out.read_text())
    phases.pop("plugin")
    out["pytest_model_cpu_s"] = phases["model work"]
    out.update({f"phase {k}": v for k, v in phases.items()})
    check_counts(report_requests(folder / "run.json"), out["hand_requests"], f"round {i + 1}")
    out["ratio_cpu"] = out["pytest_cpu_s"] / out["hand_cpu_s"]
    out["ratio_wall"] = out["pytest_s"] / out["hand_s"]
    if baseline is not None:
        check_counts(report_requests(folder / "baseline" / "run.json"), out["hand_requests"], f"baseline {i + 1}")
        base_phases = json.loads((folder / "baseline" / "phases.json").read_text())
        if not Path(base_phases.pop("plugin")).resolve().is_relative_to(baseline.resolve()):
            raise SystemExit(f"the baseline run did not import the plugin from {baseline}")
        out.update({f"baseline phase {k}": v for k, v in base_phases.items()})
        out["baseline_ratio_cpu"] = out["baseline_cpu_s"] / out["hand_cpu_s"]
    return out


def phase_rows(summary: dict[str, float]) -> list[tuple[str, str | float]]:
    """Where the pytest process's CPU seconds go (medians of each phase over the rounds)."""
    phase = {k.removeprefix("phase "): v for k, v in summary.items() if k.startswith("phase ")}
    reports = {k: v for k, v in phase.items() if k.startswith("report ")}
    rows: list[tuple[str, str | float]] = [
        ("pytest CPU s by phase:", ""),
        ("  start-up until pytest_configure (interpreter, pytest, plugins)", phase["until configure"]),
        ("  configure and session start", phase.get("configure", 0.0)),
        ("  collection", phase.get("collection", 0.0)),
        ("  model loads (imports of torch, transformers, architectures)", phase.get("model loads", 0.0)),
        ("  model work (run_requests)", phase["model work"]),
        ("  test loop beyond loads and model work", phase["test loop"] - phase.get("model loads", 0.0)
         - phase["model work"]),
        ("  session finish beyond the report files and summary (analysis)",
         phase["session finish"] - sum(reports.values()) - phase.get("terminal summary", 0.0)),
        *((f"  report {ext.lstrip('.')}", v) for ext, v in sorted(reports.items())),
        ("  terminal summary (pytest's, every plugin's, the report's)", phase.get("terminal summary", 0.0)),
        ("  exit and the rest", summary["pytest_cpu_s"] - phase["until configure"] - phase.get("configure", 0.0)
         - phase.get("collection", 0.0) - phase["test loop"] - phase["session finish"]),
    ]
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="also write every round and the summary here")
    parser.add_argument("--requests", type=Path, default=None,
                        help="a response cache of a finished main job to take the requests from (else one is made)")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="also run the main job, interleaved, with the plugin imported from this tree "
                             "(a checkout of the commit before a change): the before/after on the same load")
    parser.add_argument("--hand", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--gguf-probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hand is not None:
        print(json.dumps(hand_loop(args.hand)))
        return 0
    if args.gguf_probe:
        print(json.dumps(gguf_load_probe()))
        return 0

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory(prefix="llmselect-mainjob-") as name:
        tmp = Path(name)
        (tmp / "llmselect_phase_probe.py").write_text(PHASE_PROBE, encoding="utf-8")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(tmp), env.get("PYTHONPATH", "")) if p)
        cache = args.requests
        if cache is None:  # the requests: one main job with a response cache (also builds what is missing)
            seed = tmp / "seed"
            seed.mkdir()
            cache = seed / "cache.sqlite"
            main_job(seed, env, f"--llm-cache-path={cache}")
            check_counts(report_requests(seed / "run.json"),
                         {split_label(label)[0]: sum(map(len, b)) for label, b in stored_batches(cache).items()},
                         "response cache")
        _, _, text = run([sys.executable, __file__, "--gguf-probe"], env)
        gguf = json.loads(text.strip().splitlines()[-1])
        rounds = []
        for i in range(args.repeats):
            rounds.append(one_round(tmp, cache, env, i, args.baseline))
            shown = {k: v for k, v in rounds[-1].items() if isinstance(v, float)}
            print(f"round {i + 1}: " + ", ".join(f"{k}={v:.3f}" for k, v in shown.items()), flush=True)
    summary = {k: statistics.median(r[k] for r in rounds) for k, v in rounds[0].items() if isinstance(v, float)}
    summary.update(gguf)
    load = os.getloadavg()
    print()
    print(f"the main job (suites/pytest.ini defaults, --llm-cache=off) against a hand loop on the same "
          f"{sum(rounds[0]['hand_requests'].values())} requests; {args.repeats} interleaved rounds, medians; "
          f"1 torch thread; {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    rows = [
        ("CPU s, pytest main job (whole process)", summary["pytest_cpu_s"]),
        ("CPU s, hand loop (whole process)", summary["hand_cpu_s"]),
        ("CPU ratio pytest / hand loop (goal <= 1.25)", summary["ratio_cpu"]),
        ("  per round", " ".join(f"{r['ratio_cpu']:.3f}" for r in rounds)),
        *((("baseline tree: CPU s / ratio to the hand loop",
            f"{summary['baseline_cpu_s']:.2f} / {summary['baseline_ratio_cpu']:.3f}"),
           ("  per round", " ".join(f"{r['baseline_ratio_cpu']:.3f}" for r in rounds)),
           ("baseline tree: HTML report / session finish, CPU s",
            f"{summary['baseline phase report .html']:.2f} / {summary['baseline phase session finish']:.2f}"))
          if args.baseline is not None else ()),
        ("wall s, pytest / hand loop", f"{summary['pytest_s']:.1f} / {summary['hand_s']:.1f}"),
        ("wall ratio", summary["ratio_wall"]),
        ("model CPU s, plugin (run_requests) / hand loop",
         f"{summary['pytest_model_cpu_s']:.2f} / {summary['hand_model_cpu_s']:.2f}"),
        ("model wall s, plugin (report) / hand loop", f"{summary['pytest_model_s']:.2f} / {summary['hand_model_s']:.2f}"),
        ("hand loop: import torch+transformers / load, CPU s",
         f"{summary['hand_import_cpu_s']:.2f} / {summary['hand_load_cpu_s']:.2f}"),
        ("plugin load seconds (report, wall)", summary["pytest_load_s"]),
        ("pytest beyond model work, CPU s", summary["pytest_cpu_s"] - summary["pytest_model_cpu_s"]),
        ("hand loop beyond model work, CPU s", summary["hand_cpu_s"] - summary["hand_model_cpu_s"]),
        *phase_rows(summary),
        ("SmolLM2 load CPU s: from the GGUF file / converted folder",
         f"{gguf['gguf_file_load_cpu_s']:.2f} / {gguf['converted_load_cpu_s']:.2f}"),
        ("requests per candidate (plugin report = hand loop)",
         ", ".join(f"{k} {v}" for k, v in rounds[0]["hand_requests"].items())),
        ("hand loop's answers equal to the plugin's, per candidate",
         ", ".join(f"{k} {v}" for k, v in rounds[0]["hand_same_answers"].items())),
    ]
    for label, value in rows:
        print(f"  {label:<58} {value if isinstance(value, str) else f'{value:.3f}'}")
    if args.out is not None:
        args.out.write_text(json.dumps({"rounds": rounds, "summary": summary, "load": load}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
