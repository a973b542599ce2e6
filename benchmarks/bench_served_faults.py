"""A served run under real faults, at the scale of the trial that found them: the figures.

    PYTHONPATH=. python benchmarks/bench_served_faults.py [--cases 2000] [--concurrency 64]
                                                          [--kill-after 500] [--out result.json]

The fault server of the tests (``tests/fault_server.py``, loopback, bounded) stands in for
the model: every case's right answer is "ok". The workload is a user's project in a temporary
folder (one task of ``--cases`` cases, one ``openai:`` candidate with ``max_concurrency`` =
``--concurrency``), run as ``python -m pytest`` processes. Scenarios:

1. kill:    the server answers ``--kill-after`` requests and holds every later one; once that
            many answers are in the response cache the run gets SIGKILL. Then a rerun against
            a healthy server. Figures: answers before the kill, answers stored, requests the
            rerun sent, cases not answered before the kill (the last two should be equal).
2. ctrl-c:  the same with SIGINT: lines of asyncio noise in the output, whether a report was
            written, its scored cases, the rerun's requests.
3. outage:  the server answers 10 requests, then 503 to everything: the report's quality,
            ``complete``, the not-run line.
4. drops:   30% of requests dropped at random (seeded): cases scored, cases not run, requests
            never sent.
5. card:    a vLLM-shaped model card (``created`` = now) and two runs a second apart: requests
            the second run sent.

The moment of each kill is set by what was answered (the server's count, then the cache's row
count, with a 2 s grace for a build that stores nothing before the group ends).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_llmselect.cache import stored_answers  # noqa: E402
from tests.fault_server import FaultServer, after, at_random  # noqa: E402

NOISE = ("Task was destroyed but it is pending", "Event loop is closed", "Exception ignored",
         "coroutine ignored GeneratorExit")

SUITE = '''
import pytest
from pytest_llmselect import GenerateRequest, exact_match

CASES = [{{"id": f"c{{i:05d}}", "prompt": f"case {{i}}", "answer": "ok"}} for i in range({n})]

def request(case):
    return GenerateRequest(case["prompt"], max_new_tokens=4)

@pytest.mark.llm_task("echo", metric="exact_match", requests=request)
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_echo(llm, llm_record, case):
    output = llm.run(request(case)).text
    llm_record(exact_match(output, case["answer"]), output=output)
'''


class Project:
    def __init__(self, folder: Path, cases: int, concurrency: int) -> None:
        self.folder, self.cases, self.concurrency = folder, cases, concurrency
        folder.mkdir(parents=True)
        (folder / "test_echo.py").write_text(SUITE.format(n=cases), encoding="utf-8")
        (folder / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")

    @property
    def cache(self) -> Path:
        return self.folder / ".llmselect" / "cache.sqlite"

    def point_at(self, server: FaultServer, **extra: Any) -> None:
        more = "".join(f"{k} = {json.dumps(v)}\n" for k, v in extra.items())
        (self.folder / "served.toml").write_text(
            f'[[candidate]]\nname = "served"\nbase_url = "{server.base_url}"\nmodel = "canned"\n'
            f"max_concurrency = {self.concurrency}\ntimeout_s = 120\n{more}", encoding="utf-8")

    def command(self) -> list[str]:
        return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--llm-candidates=@served.toml",
                "--llm-report=run.json", "--llm-run-log="]

    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(ROOT)}

    def run(self) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(), cwd=self.folder, env=self.env(), capture_output=True, text=True)

    def stored(self) -> int:
        return stored_answers(self.cache)

    def report(self) -> dict[str, Any] | None:
        path = self.folder / "run.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def interrupted(project: Project, k: int, sig: int) -> dict[str, Any]:
    with FaultServer(rule=after(k, "hang"), lifetime_s=900) as server:
        project.point_at(server)
        proc = subprocess.Popen(project.command(), cwd=project.folder, env=project.env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        # Signal once the server has answered k requests and they are stored, or 2 s after the
        # answers when they are not stored (a build that keeps nothing until the group ends).
        bound = time.monotonic() + 600
        while proc.poll() is None and server.answered < k and time.monotonic() < bound:
            time.sleep(0.02)
        grace = time.monotonic() + 2
        while proc.poll() is None and project.stored() < k and time.monotonic() < grace:
            time.sleep(0.02)
        stored_at_signal = project.stored()
        proc.send_signal(sig)
        signalled = time.monotonic()
        try:
            output = proc.communicate(timeout=120)[0].decode("utf-8", "replace")
            hung = False
        except subprocess.TimeoutExpired:  # still running 120 s after the signal: stopped for it
            proc.kill()
            output = proc.communicate()[0].decode("utf-8", "replace")
            hung = True
        exit_seconds = time.monotonic() - signalled
        answered = server.answered
        received = server.received
    report = project.report()
    stored_after = project.stored()
    with FaultServer(lifetime_s=900, port=server.port) as healthy:  # same address: the same model
        project.point_at(healthy)
        rerun = project.run()
        rerun_sent = healthy.received
    final = project.report() or {}
    return {
        "answered_before_signal": answered, "received_before_signal": received,
        "stored_when_signalled": stored_at_signal, "stored_after_exit": stored_after,
        "not_answered_before_signal": project.cases - answered, "rerun_requests_sent": rerun_sent,
        "noise_lines": sum(1 for line in output.splitlines() if any(n in line for n in NOISE)),
        "exit_code": proc.returncode, "hung_after_signal": hung, "seconds_to_exit": round(exit_seconds, 1),
        "output_lines": len(output.splitlines()), "report_written": report is not None,
        "report_scored": sum(1 for c in (report or {}).get("cases", []) if c.get("status") == "scored"),
        "report_complete": (report or {}).get("complete"),
        "rerun_exit_code": rerun.returncode, "rerun_complete": final.get("complete"),
        "rerun_cases": len(final.get("cases", [])),
    }


def outage(project: Project) -> dict[str, Any]:
    with FaultServer(rule=after(10, "status:503:0"), lifetime_s=900) as server:
        project.point_at(server, max_retries=1)
        project.run()
    report = project.report() or {}
    rows = [r for t in report.get("tasks", []) for r in t.get("results", [])]
    return {"quality": rows[0]["quality"] if rows else None, "complete": report.get("complete"),
            "scored": sum(1 for c in report.get("cases", []) if c.get("status") == "scored"),
            "errored": sum(1 for c in report.get("cases", []) if c.get("status") == "errored"),
            "missing": report.get("missing")}


def drops(project: Project) -> dict[str, Any]:
    with FaultServer(rule=at_random(0.3, "drop", seed=7), lifetime_s=900) as server:
        project.point_at(server, max_retries=3)
        project.run()
        sent = {b.get("prompt") for b in server.bodies}
    report = project.report() or {}
    return {"scored": sum(1 for c in report.get("cases", []) if c.get("status") == "scored"),
            "not_run": sum(m["count"] for m in report.get("missing", [])), "never_sent": project.cases - len(sent),
            "attempts": len(server.bodies), "complete": report.get("complete")}


def card(project: Project) -> dict[str, Any]:
    sent: list[int] = []
    port = 0
    for _ in range(2):
        with FaultServer(lifetime_s=900, port=port) as server:
            port = server.port
            project.point_at(server)
            project.run()
            sent.append(server.received)
        time.sleep(1.1)  # so the card's "created" (whole seconds) differs between the runs
    return {"first_run_sent": sent[0], "second_run_sent": sent[1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--kill-after", type=int, default=500)
    parser.add_argument("--only", default="kill,ctrl-c,outage,drops,card")
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    wanted = args.only.split(",")
    results: dict[str, Any] = {"cases": args.cases, "concurrency": args.concurrency, "kill_after": args.kill_after}
    with tempfile.TemporaryDirectory(prefix="llmselect-faults-") as tmp:
        def project(name: str) -> Project:
            return Project(Path(tmp) / name, args.cases, args.concurrency)

        scenarios = {"kill": lambda: interrupted(project("kill"), args.kill_after, signal.SIGKILL),
                     "ctrl-c": lambda: interrupted(project("ctrl-c"), args.kill_after, signal.SIGINT),
                     "outage": lambda: outage(project("outage")), "drops": lambda: drops(project("drops")),
                     "card": lambda: card(project("card"))}
        for name in wanted:
            began = time.monotonic()
            results[name] = scenarios[name]()
            results[name]["scenario_seconds"] = round(time.monotonic() - began, 1)
            print(name, json.dumps(results[name]), flush=True)  # each as it ends: a long run shows progress
            if args.out:
                Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
