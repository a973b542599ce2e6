"""Served generation: the plugin against a bare asyncio + httpx loop, same requests, same concurrency.

    python benchmarks/bench_served.py [--model small] [--suite addition] [--cases 48[,200,...]]
                                      [--concurrency 8] [--repeats 5] [--out result.json]

Starts the real ``transformers serve`` on a free loopback port with a zoo model (pinned, CPU,
offline) and waits for ``/health``. The workload is a user's project in a temporary folder:
``suites/test_<suite>.py`` copied beside a data file holding the suite's first ``--cases``
cases (no ``-k`` selection, no conftest of this repository), and one ``openai:`` candidate
with ``max_concurrency`` = ``--concurrency``. Then ``--repeats`` rounds, each running four
ways in turn (the order reversed every other round: a loaded machine drifts within a round):

1. bare:         in this process, ``asyncio`` + one ``httpx.AsyncClient``, an
                 ``asyncio.Semaphore(N)``, the same request bodies (streamed completions,
                 greedy, the suite's max tokens and stop), reading the same server-sent events;
2. plugin:       in this process, ``pytest.main`` on the folder (imports already warm): the
                 wall time of the whole session, and the model-work seconds the plugin measured
                 for the group (what its cost column uses);
3. bare process: the bare loop as a fresh ``python`` process, timed from outside;
4. pytest process: the user's ``python -m pytest`` command as a fresh process, timed from
                 outside (start-up, plugin loading, collection, one item per case, scoring, report).

Every plugin run gets a fresh response-cache file, so each one computes and stores every
answer as a user's first run does (reusing one would serve later rounds from the cache). The
fresh processes run without ``PYTHONDONTWRITEBYTECODE``, as a default Python does (compiled
modules and pytest's rewritten ones are cached after the untimed warm-up); ``PYTHONPATH``
points at this checkout so the code measured is the code beside this script.

Prints medians, the ratios to the bare loop (throughput ratio = the inverse) and every
round. With several sizes (``--cases 100,400``) each round runs every way at every size, and
the marginal ratios are printed too: ``(T(large) - T(small)) / (B(large) - B(small))`` for
each way T against its bare counterpart B, the cost of each request beyond the first
``small`` (start-up, collection and the report cancel out): the steady-state throughput
ratio. The server is stopped at the end, also on an error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

# Only what the bare loop needs is imported here: it also runs as its own fresh process.

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MAX_NEW = {"addition": 5, "multiples": 40}
WAYS = ("bare", "plugin", "bare_process", "pytest_process")


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


def write_project(folder: Path, suite: str, cases: list[dict], base_url: str, model: str, concurrency: int) -> None:
    import shutil

    (folder / "data").mkdir(parents=True)
    shutil.copy(REPO / "suites" / f"test_{suite}.py", folder / f"test_{suite}.py")
    with open(folder / "data" / f"{suite}.jsonl", "w", encoding="utf-8") as out:
        for case in cases:
            out.write(json.dumps(case) + "\n")
    (folder / "candidates.toml").write_text(f'[[candidate]]\nname = "served"\nbase_url = "{base_url}"\n'
                                            f'model = "{model}"\nmax_concurrency = {concurrency}\n', encoding="utf-8")


def pytest_args(folder: Path, suite: str, tag: str) -> list[str]:
    return [str(folder / f"test_{suite}.py"), f"--rootdir={folder}", f"--llm-candidates=@{folder / 'candidates.toml'}",
            f"--llm-report={folder / f'{tag}.json'}", f"--llm-cache-path={folder / f'{tag}.sqlite'}",
            "--llm-run-log=", "-q", "-p", "no:cacheprovider", "--benchmark-disable"]


def model_seconds(folder: Path, tag: str, n: int) -> float:
    data = json.loads((folder / f"{tag}.json").read_text(encoding="utf-8"))
    (row,) = [r for t in data["tasks"] for r in t["results"]]
    if row["measures"]["requests"] != n or row["measures"].get("cache_hits"):
        raise SystemExit(f"plugin run {tag}: expected {n} computed requests, got {row['measures']}")
    return float(row["measures"]["model_seconds"])


def plugin_in_process(folder: Path, suite: str, tag: str) -> float:
    import contextlib
    import io

    import pytest

    # Each session imports the test module afresh from its own folder, as a user's run does
    # (several sizes are several folders holding a module of the same name).
    sys.modules.pop(f"test_{suite}", None)
    path = list(sys.path)
    with contextlib.redirect_stdout(io.StringIO()) as out:  # the session's report, unread
        start = time.perf_counter()
        code = pytest.main(pytest_args(folder, suite, tag))
        wall = time.perf_counter() - start
    sys.path[:] = path
    if code not in (0, 1):
        raise SystemExit(f"plugin run failed with exit code {code}:\n{out.getvalue()[-2000:]}")
    return wall


def process_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


def timed_process(cmd: list[str], cwd: Path) -> float:
    import subprocess

    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=process_env(), capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="small")
    parser.add_argument("--suite", default="addition", choices=sorted(MAX_NEW))
    parser.add_argument("--cases", default="48",
                        help="the suite's first N cases; a comma list (100,400) also gives marginal ratios")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, help="write every round and the medians as JSON here")
    parser.add_argument("--bare", nargs=3, metavar=("URL", "BODIES_JSON", "CONCURRENCY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:  # the bare loop as a fresh process (way 3)
        url, bodies_file, concurrency = args.bare
        bare_loop(url, json.loads(Path(bodies_file).read_text(encoding="utf-8")), int(concurrency))
        return 0

    import statistics
    import tempfile

    import pytest_llmselect
    from pytest_llmselect import GenerateRequest, load_jsonl
    from pytest_llmselect.backends.openai_protocol import completion_body
    from pytest_llmselect.zoo import zoo_path
    from tests.served_kit import transformers_serve

    if Path(pytest_llmselect.__file__).resolve().parents[1] != REPO:
        raise SystemExit(f"measuring {pytest_llmselect.__file__}, not the checkout at {REPO}")
    model_dir = str(zoo_path(args.model))
    sizes = sorted({int(n) for n in str(args.cases).split(",")})
    everything = load_jsonl(REPO / "suites" / "data" / f"{args.suite}.jsonl")
    if sizes[-1] > len(everything):
        raise SystemExit(f"--cases {sizes[-1]}: the {args.suite} suite has {len(everything)} cases")
    per_size: dict[int, list[dict[str, float]]] = {n: [] for n in sizes}
    with tempfile.TemporaryDirectory() as tmp, transformers_serve(model_dir, log=Path(tmp) / "serve.log") as url:
        py = sys.executable
        runners = {}
        for n in sizes:
            cases = everything[:n]
            bodies = [completion_body(model_dir, GenerateRequest(c["prompt"], MAX_NEW[args.suite], ("\n",)),
                                      stream=True) for c in cases]
            folder = Path(tmp) / f"project-{n}"
            write_project(folder, args.suite, cases, url, model_dir, args.concurrency)
            bodies_file = Path(tmp) / f"bodies-{n}.json"
            bodies_file.write_text(json.dumps(bodies), encoding="utf-8")
            runners[n] = (folder, bodies, [py, __file__, "--bare", url, str(bodies_file), str(args.concurrency)])

        def run(way: str, n: int, i: int) -> dict[str, float]:
            folder, bodies, bare_cmd = runners[n]
            if way == "bare":
                return {"bare": bare_loop(url, bodies, args.concurrency)}
            if way == "plugin":
                wall = plugin_in_process(folder, args.suite, f"inproc-{i}")
                return {"plugin": wall, "plugin_work": model_seconds(folder, f"inproc-{i}", n)}
            if way == "bare_process":
                return {"bare_process": timed_process(bare_cmd, folder)}
            wall = timed_process([py, "-m", "pytest", *pytest_args(folder, args.suite, f"proc-{i}")], folder)
            return {"pytest_process": wall, "pytest_process_work": model_seconds(folder, f"proc-{i}", n)}

        # Warm up every way once, untimed: the server's first requests, first imports, compiled caches.
        for way in WAYS:
            run(way, sizes[0], -1)
        for i in range(args.repeats):
            order = [(way, n) for n in sizes for way in WAYS]
            for way, n in (order if i % 2 == 0 else order[::-1]):
                if len(per_size[n]) <= i:
                    per_size[n].append({})
                per_size[n][i].update(run(way, n, i))
            for n in sizes:
                print(f"  round {i + 1}, {n} requests: " + ", ".join(f"{k} {v:.3f}" for k, v in per_size[n][i].items()),
                      flush=True)
    med = {n: {k: statistics.median(r[k] for r in rows) for k in rows[0]} for n, rows in per_size.items()}
    ratios = {n: {"plugin model work / bare": m["plugin_work"] / m["bare"],
                  "plugin session / bare": m["plugin"] / m["bare"],
                  "pytest process / bare process": m["pytest_process"] / m["bare_process"]} for n, m in med.items()}
    for n in sizes:
        m = med[n]
        print(f"{n} requests, suite {args.suite}, zoo:{args.model}, concurrency {args.concurrency}, "
              f"medians of {args.repeats}")
        for key, label in (("bare", "bare asyncio+httpx loop"), ("plugin_work", "plugin, model work of group"),
                           ("plugin", "plugin, whole pytest session"), ("bare_process", "bare loop, fresh process"),
                           ("pytest_process", "pytest, fresh process"),
                           ("pytest_process_work", "pytest process, model work")):
            print(f"  {label:32s} {m[key]:.3f} s   ({n / m[key]:.1f} requests/s)")
        for label, value in ratios[n].items():
            print(f"  {label}: {value:.3f}")
    marginal: dict[str, float] = {}
    if len(sizes) > 1:
        lo, hi = sizes[0], sizes[-1]

        def slope(key: str) -> list[float]:  # per round, so the median pairs runs made side by side
            return [per_size[hi][i][key] - per_size[lo][i][key] for i in range(args.repeats)]

        for label, way, bare in (("plugin model work / bare", "plugin_work", "bare"),
                                 ("plugin session / bare", "plugin", "bare"),
                                 ("pytest process / bare process", "pytest_process", "bare_process")):
            marginal[label] = statistics.median(w / b for w, b in zip(slope(way), slope(bare)))
        print(f"marginal, {lo} -> {hi} requests (the extra {hi - lo} requests' time against the bare loop's, "
              f"median of the {args.repeats} rounds' ratios):")
        for label, value in marginal.items():
            print(f"  {label}: {value:.3f}")
    if args.out:
        args.out.write_text(json.dumps({"sizes": sizes, "concurrency": args.concurrency, "rounds": per_size,
                                        "medians": med, "ratios": ratios, "marginal": marginal}, indent=1),
                            encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
