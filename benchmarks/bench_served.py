"""Served generation: the plugin against a bare asyncio + httpx loop, same requests, same concurrency.

    python benchmarks/bench_served.py [--model small] [--suite addition] [--cases 64] [--concurrency 8] [--repeats 5]

Starts the real ``transformers serve`` on a free loopback port with a zoo model (pinned, CPU,
offline), waits for ``/health``, then, interleaved ``--repeats`` times:

1. plugin:  ``pytest suites/test_<suite>.py -k <the first --cases ids> --llm-candidates=@<file>`` in-process with one
            ``openai:`` candidate (``max_concurrency`` = N); the wall time of the whole session
            and, separately, the model-work seconds the plugin measured for the group (the
            time its backend spent getting every answer, what the cost column uses);
2. bare:    ``asyncio`` + one ``httpx.AsyncClient``, an ``asyncio.Semaphore(N)``, the same
            request bodies (streamed completions, greedy, the suite's max tokens and stop),
            reading the same server-sent events.

Prints medians and the ratios plugin/bare (throughput ratio = the inverse). The server is
stopped at the end, also on an error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MAX_NEW = {"addition": 5, "multiples": 40}


def bare_loop(base_url: str, bodies: list[dict], concurrency: int) -> float:
    import httpx

    async def main() -> float:
        gate = asyncio.Semaphore(concurrency)
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:

            async def one(body: dict) -> str:
                async with gate:
                    parts = []
                    async with client.stream("POST", "/completions", json=body) as response:
                        response.raise_for_status()
                        async for line in response.aiter_lines():
                            if line.startswith("data:") and line[5:].strip() not in ("", "[DONE]"):
                                chunk = json.loads(line[5:])
                                if chunk.get("choices"):
                                    parts.append(chunk["choices"][0].get("text") or "")
                    return "".join(parts)

            start = time.perf_counter()
            await asyncio.gather(*(one(b) for b in bodies))
            return time.perf_counter() - start

    return asyncio.run(main())


def plugin_run(base_url: str, model: str, suite: str, ids: list[str], concurrency: int, workdir: Path
               ) -> tuple[float, float]:
    import pytest

    cands = workdir / "candidates.toml"
    cands.write_text(f'[[candidate]]\nname = "served"\nbase_url = "{base_url}"\nmodel = "{model}"\n'
                     f"max_concurrency = {concurrency}\n", encoding="utf-8")
    report = workdir / "run.json"
    args = [str(REPO / "suites" / f"test_{suite}.py"), f"--llm-candidates=@{cands}", f"--llm-report={report}",
            "-k", " or ".join(ids), "--llm-run-log=", "-q", "-p", "no:cacheprovider", "--benchmark-disable", f"--rootdir={REPO}"]
    start = time.perf_counter()
    code = pytest.main(args)
    wall = time.perf_counter() - start
    if code not in (0, 1):
        raise SystemExit(f"plugin run failed with exit code {code}")
    data = json.loads(report.read_text(encoding="utf-8"))
    (row,) = [r for t in data["tasks"] for r in t["results"]]
    return wall, row["measures"]["model_seconds"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="small")
    parser.add_argument("--suite", default="addition", choices=sorted(MAX_NEW))
    parser.add_argument("--cases", type=int, default=64, help="the suite's first N cases")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from pytest_llmselect import GenerateRequest, load_jsonl
    from pytest_llmselect.backends.openai_protocol import completion_body
    from pytest_llmselect.zoo import zoo_path
    from tests.served_kit import transformers_serve

    model_dir = str(zoo_path(args.model))
    cases = load_jsonl(REPO / "suites" / "data" / f"{args.suite}.jsonl")[: args.cases]
    ids = [c["id"] for c in cases]
    bodies = [completion_body(model_dir, GenerateRequest(c["prompt"], MAX_NEW[args.suite], ("\n",)), stream=True)
              for c in cases]
    with tempfile.TemporaryDirectory() as tmp, transformers_serve(model_dir, log=Path(tmp) / "serve.log") as url:
        # Warm up both ways once, untimed: the server's first requests, the plugin's first imports.
        bare_loop(url, bodies[:8], args.concurrency)
        plugin_run(url, model_dir, args.suite, ids[:8], args.concurrency, Path(tmp))
        bare, wall, work = [], [], []
        for i in range(args.repeats):
            # Alternate which way goes first: a loaded machine drifts within a round.
            if i % 2:
                bare.append(bare_loop(url, bodies, args.concurrency))
            w, m = plugin_run(url, model_dir, args.suite, ids, args.concurrency, Path(tmp))
            wall.append(w)
            work.append(m)
            if not i % 2:
                bare.append(bare_loop(url, bodies, args.concurrency))
    med = {k: statistics.median(v) for k, v in (("bare", bare), ("wall", wall), ("work", work))}
    print(f"{len(bodies)} requests, suite {args.suite}, zoo:{args.model}, concurrency {args.concurrency}, "
          f"medians of {args.repeats}")
    print(f"  bare asyncio+httpx loop        {med['bare']:.3f} s   ({len(bodies) / med['bare']:.1f} requests/s)")
    print(f"  plugin, model work of group    {med['work']:.3f} s   ({len(bodies) / med['work']:.1f} requests/s)")
    print(f"  plugin, whole pytest session   {med['wall']:.3f} s")
    print(f"  plugin model work / bare: {med['work'] / med['bare']:.3f}   (target <= 1.2)")
    print(f"  plugin session / bare:    {med['wall'] / med['bare']:.3f}")
    print("  all rounds (bare, work, wall):", [(round(b, 3), round(m, 3), round(w, 3)) for b, m, w in zip(bare, work, wall)])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
