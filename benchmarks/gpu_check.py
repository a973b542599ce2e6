"""GPU check, run once on a CUDA machine (CI has none): placement, dtype, peak memory from the
CUDA allocator, and batched throughput of a zoo model. Writes gpu_check.json to --out.

    LLMSELECT_CACHE_DIR=<zoo cache> python benchmarks/gpu_check.py --out DIR

The zoo cache must already hold the models (built on a CPU machine and copied over), so
that the weights are the very ones the CPU tests use.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--model", default="base")
    args = ap.parse_args()
    import torch

    from pytest_llmselect import load_jsonl
    from pytest_llmselect.backends import hf, peak_memory
    from pytest_llmselect.backends.base import GenerateRequest
    from pytest_llmselect.zoo import zoo_path

    assert torch.cuda.is_available(), "no CUDA device"
    out: dict = {"torch": torch.__version__, "device_name": torch.cuda.get_device_name(0)}
    path = str(zoo_path(args.model, build=False))
    cases = load_jsonl(REPO / "suites" / "data" / "multiples.jsonl")
    reqs = [GenerateRequest(c["prompt"], max_new_tokens=40, stop=("\n",)) for c in cases]

    # 1. Default placement and dtype on CUDA.
    b = hf.HFBackend.load(path, display_name=args.model)
    p = next(b._model.parameters())
    out["default"] = {"info_device": b.info.device, "info_dtype": b.info.dtype,
                      "param_device": str(p.device), "param_dtype": str(p.dtype),
                      "num_parameters": b.info.num_parameters}
    # 2. Peak memory of the model work comes from the CUDA allocator, after a reset.
    torch.cuda.synchronize()
    with peak_memory(b.info.device) as peak:
        b.generate(reqs, batch_size=32)
    out["peak"] = {"reported_bytes": peak.bytes, "max_memory_allocated": torch.cuda.max_memory_allocated(),
                   "memory_allocated_now": torch.cuda.memory_allocated()}
    b.close()
    out["after_close_allocated"] = torch.cuda.memory_allocated()

    # 3. Batched throughput, bf16 and fp32, by batch size (medians of 5, after a warm-up).
    rows = []
    for dtype in ("bfloat16", "float32"):
        b = hf.HFBackend.load(path, display_name=args.model, dtype=dtype)
        for bs in (1, 8, 32, 100):
            sub = reqs if bs > 1 else reqs[:25]
            b.generate(sub, batch_size=bs)
            times, toks = [], 0
            for _ in range(5):
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                res = b.generate(sub, batch_size=bs)
                torch.cuda.synchronize()
                times.append(time.perf_counter() - t0)
                toks = sum(r.output_tokens for r in res)
            med = statistics.median(times)
            rows.append({"dtype": dtype, "batch_size": bs, "cases": len(sub), "median_s": med,
                         "output_tokens": toks, "output_tokens_per_s": toks / med,
                         "cases_per_s": len(sub) / med})
        # fp32 batched == one at a time on GPU; bf16 may differ (rounding flips near-ties).
        single = [r.text for r in b.generate(reqs[:32], batch_size=1)]
        batched = [r.text for r in b.generate(reqs[:32], batch_size=32)]
        out[f"batched_equals_single_{dtype}"] = sum(x == y for x, y in zip(single, batched))
        b.close()
    out["throughput"] = rows
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_check.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
