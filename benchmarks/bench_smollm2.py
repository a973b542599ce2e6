"""The real model (SmolLM2-135M-Instruct, converted from its Q4_1 GGUF file): the plugin's
backend against a hand-written batched transformers loop, and the converted load against
loading the GGUF file each time. Side by side in one process, one torch thread, CPU seconds
(``time.process_time``), interleaved repeats, medians.

    python benchmarks/bench_smollm2.py [--repeats 3] [--load-repeats 2] [--out result.json]

Workloads (from the language suites, the requests the plugin batches for them):
* generation: the knowledge and instructions suites, 70 greedy requests (6 and 16 new tokens,
  stop strings), batch size 32, sorted by length;
* log-likelihood: the sentiment suite, 80 (context, label) pairs, batch size 32;
* load: ``HFBackend.load`` of the converted folder (what a run does after the first) against
  ``from_pretrained(folder, gguf_file=...)`` of the GGUF file with its tokenizer (what it
  would do without the cache).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
BATCH = 32


def requests():
    from pytest_llmselect import load_jsonl
    from pytest_llmselect.backends.base import GenerateRequest, LoglikelihoodRequest

    data = REPO / "suites" / "data"
    gen = [GenerateRequest(c["prompt"], 6, ("\n", ".")) for c in load_jsonl(data / "knowledge.jsonl")]
    gen += [GenerateRequest(f"User: {c['instruction']}\nAssistant:", 16, ("\n",))
            for c in load_jsonl(data / "instructions.jsonl")]
    ll = [LoglikelihoodRequest(c["context"], choice) for c in load_jsonl(data / "sentiment.jsonl")
          for choice in c["choices"]]
    return gen, ll


def hand_generate(model, tok, reqs) -> list[str]:
    """A plain batched loop: left padding, length-sorted batches, generate with stop strings."""
    import torch

    order = sorted(range(len(reqs)), key=lambda i: (-reqs[i].max_new_tokens, -len(reqs[i].prompt)))
    out: dict[int, str] = {}
    with torch.inference_mode():
        for b in range(0, len(order), BATCH):
            idx = order[b:b + BATCH]
            enc = tok([reqs[i].prompt for i in idx], return_tensors="pt", padding=True)
            gen = model.generate(**enc, max_new_tokens=max(reqs[i].max_new_tokens for i in idx), do_sample=False,
                                 stop_strings=sorted({s for i in idx for s in reqs[i].stop}), tokenizer=tok,
                                 pad_token_id=tok.pad_token_id)
            for row, i in enumerate(idx):
                text = tok.decode(gen[row, enc["input_ids"].shape[1]:][:reqs[i].max_new_tokens],
                                  skip_special_tokens=True)
                cuts = [text.find(s) for s in reqs[i].stop if s in text]
                out[i] = text[:min(cuts)] if cuts else text
    return [out[i] for i in range(len(reqs))]


def hand_loglikelihood(model, tok, reqs) -> list[float]:
    """A plain batched loop: encode context + continuation, right-pad, one forward pass,
    sum the continuation tokens' log-probabilities."""
    import torch

    rows = []
    for r in reqs:
        ctx = tok(r.context.rstrip(), add_special_tokens=False)["input_ids"]
        whole = tok(r.context.rstrip() + r.context[len(r.context.rstrip()):] + r.continuation,
                    add_special_tokens=False)["input_ids"]
        rows.append((whole, len(whole) - len(ctx)))
    order = sorted(range(len(rows)), key=lambda i: -len(rows[i][0]))
    out: dict[int, float] = {}
    with torch.inference_mode():
        for b in range(0, len(order), BATCH):
            idx = order[b:b + BATCH]
            width = max(len(rows[i][0]) - 1 for i in idx)
            ids = torch.tensor([rows[i][0][:-1] + [tok.pad_token_id] * (width - len(rows[i][0]) + 1) for i in idx])
            mask = torch.tensor([[1] * (len(rows[i][0]) - 1) + [0] * (width - len(rows[i][0]) + 1) for i in idx])
            logprobs = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
            for row, i in enumerate(idx):
                seq, n = rows[i]
                positions = torch.arange(len(seq) - 1 - n, len(seq) - 1)
                out[i] = float(logprobs[row, positions, torch.tensor(seq[-n:])].sum())
    return [out[i] for i in range(len(rows))]


def cpu(fn, label: str = ""):
    start = time.process_time()
    result = fn()
    seconds = time.process_time() - start
    if label:  # as it happens: a run cut short keeps what it measured
        print(f"{label}: {seconds:.3f} CPU s", file=sys.stderr, flush=True)
    return seconds, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--load-repeats", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pytest_llmselect.backends.gguf import converted_path
    from pytest_llmselect.backends.hf import HFBackend
    from pytest_llmselect.zoo.bundled import bundled_file

    torch.set_num_threads(1)
    transformers.utils.logging.disable_progress_bar()
    gguf = bundled_file("smollm2-135m")
    folder = str(converted_path(gguf))  # converted once, outside every clock
    gen, ll = requests()
    backend = HFBackend.load(folder, device="cpu", dtype="float32")
    tok = AutoTokenizer.from_pretrained(folder)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()

    times: dict[str, list[float]] = {k: [] for k in ("plugin_generate", "hand_generate", "plugin_loglikelihood",
                                                      "hand_loglikelihood", "load_converted", "load_gguf")}
    same_text = same_ll = True
    for _ in range(args.repeats):  # interleaved: a slow spell of the machine hits both ways
        t, ours = cpu(lambda: backend.generate(gen, batch_size=BATCH), "plugin_generate")
        times["plugin_generate"].append(t)
        t, theirs = cpu(lambda: hand_generate(model, tok, gen), "hand_generate")
        times["hand_generate"].append(t)
        same_text &= [r.text for r in ours] == theirs
        t, ours_ll = cpu(lambda: backend.loglikelihood(ll, batch_size=BATCH), "plugin_loglikelihood")
        times["plugin_loglikelihood"].append(t)
        t, theirs_ll = cpu(lambda: hand_loglikelihood(model, tok, ll), "hand_loglikelihood")
        times["hand_loglikelihood"].append(t)
        same_ll &= all(abs(a.logprob - b) < 1e-3 for a, b in zip(ours_ll, theirs_ll))
    for _ in range(args.load_repeats):
        t, loaded = cpu(lambda: HFBackend.load(folder, device="cpu", dtype="float32"), "load_converted")
        times["load_converted"].append(t)
        loaded.close()
        t, _ = cpu(lambda: (AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name),
                            AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                                                 dtype=torch.float32)), "load_gguf")
        times["load_gguf"].append(t)
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "cpu_seconds_median": {k: round(v, 3) for k, v in med.items()},
        "cpu_seconds_all": {k: [round(x, 3) for x in v] for k, v in times.items()},
        "generate_ratio_plugin_over_hand": round(med["plugin_generate"] / med["hand_generate"], 3),
        "loglikelihood_ratio_plugin_over_hand": round(med["plugin_loglikelihood"] / med["hand_loglikelihood"], 3),
        "load_speedup_converted": round(med["load_gguf"] / med["load_converted"], 1),
        "same_generated_text": same_text, "same_logprobs": same_ll,
        "workload": {"generate_requests": len(gen), "loglikelihood_requests": len(ll), "batch_size": BATCH,
                     "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
                     "transformers": transformers.__version__},
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
