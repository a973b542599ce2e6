"""Kill a real evaluation with SIGKILL from outside, run it again, and count what the cache saved.

    python benchmarks/bench_resume.py --candidates zoo:small,zoo:base --kills 2

Runs ``pytest suites/`` in a scratch copy of the suites four ways, in subprocesses:

1. uninterrupted, with a cache of its own (the reference: quality, and how many requests there are);
2. the same command, SIGKILLed from outside each time the shared cache has grown by a share of
   the requests (``--kills`` times), then run once more to the end;
3. once more, fully cached.

Prints, per kill: requests stored and cases recorded before it; for the final resumed run: cache
hits, requests computed, and whether every quality figure equals the reference. A request
"recomputed" is one computed again although it had finished (stored) before a kill: computed in
the resumed runs minus the requests that were never stored, which must be 0.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pytest_llmselect.cache import stored_answers

REPO = Path(__file__).resolve().parents[1]


def pytest_cmd(candidates: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "suites", f"--llm-candidates={candidates}", "-q",
            "-p", "no:cacheprovider", "--benchmark-disable", *extra]


def measures(report: dict) -> dict:
    return {(t["name"], r["candidate"]): r["measures"] for t in report["tasks"] for r in t["results"]}


def quality(report: dict) -> dict:
    return {(t["name"], r["candidate"]): (r["n"], r["quality"], r["lo"], r["hi"])
            for t in report["tasks"] for r in t["results"]}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--candidates", default="zoo:small,zoo:base")
    ap.add_argument("--kills", type=int, default=2)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="llmselect-resume-"))
    shutil.copytree(REPO / "suites", work / "suites")
    (work / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    start = time.perf_counter()
    subprocess.run(pytest_cmd(args.candidates, "--llm-cache-path=reference.sqlite", "--llm-report=reference.json"),
                   cwd=work, env=env, check=False, capture_output=True)
    first_wall = time.perf_counter() - start
    reference = json.loads((work / "reference.json").read_text())
    total = stored_answers(work / "reference.sqlite")
    print(f"reference run: {total} requests, {len(reference['cases'])} cases, {first_wall:.1f} s wall")

    cache = work / ".llmselect" / "cache.sqlite"
    log = work / ".llmselect" / "run-log.jsonl"
    for k in range(1, args.kills + 1):
        target = total * k // (args.kills + 1)
        proc = subprocess.Popen(pytest_cmd(args.candidates), cwd=work, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        while proc.poll() is None and stored_answers(cache) < target:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        events = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        run = events[-1]["run_id"]
        cases = sum(1 for e in events if e["run_id"] == run and e["event"] == "case")
        print(f"kill {k}: exit {proc.returncode}, {stored_answers(cache)} of {total} requests stored, "
              f"{cases} cases recorded by the killed run")

    before = stored_answers(cache)
    start = time.perf_counter()
    subprocess.run(pytest_cmd(args.candidates, "--llm-report=resumed.json"), cwd=work, env=env, check=False,
                   capture_output=True)
    resumed_wall = time.perf_counter() - start
    resumed = json.loads((work / "resumed.json").read_text())
    hits = sum(m["cache_hits"] for m in measures(resumed).values())
    computed = sum(m["requests"] - m["cache_hits"] for m in measures(resumed).values())
    print(f"resumed run: {hits} cache hits, {computed} computed, {computed - (total - before)} recomputed "
          f"after finishing before a kill; quality equal to the reference: {quality(resumed) == quality(reference)}; "
          f"selected {resumed['selected']} (reference {reference['selected']}); {resumed_wall:.1f} s wall")

    start = time.perf_counter()
    subprocess.run(pytest_cmd(args.candidates, "--llm-report=cached.json"), cwd=work, env=env, check=False,
                   capture_output=True)
    cached_wall = time.perf_counter() - start
    cached = json.loads((work / "cached.json").read_text())
    hits = sum(m["cache_hits"] for m in measures(cached).values())
    print(f"fully cached run: {hits} of {total} from the cache, {cached_wall:.1f} s wall "
          f"(first run {first_wall:.1f} s; one run each, see farm-bench for medians)")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
