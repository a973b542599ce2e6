"""Command line: re-select from a saved run without re-running any model.

    python -m pytest_llmselect report run.json --alpha 10 --format md -o summary.md
    python -m pytest_llmselect zoo            # build the reference models now (--markdown: README table)
    python -m pytest_llmselect cache list     # what the response cache holds, per model
    python -m pytest_llmselect cache prune --model zoo:tiny --older-than 30
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
from pathlib import Path
from typing import Sequence

from pytest_llmselect.errors import LLMSelectError, SpecError


def _weights(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise SpecError(f"--weights: expected TASK=NUMBER, got {part!r}") from None
        if not sep or out[name.strip()] < 0:
            raise SpecError(f"--weights: expected TASK=NUMBER with NUMBER >= 0, got {part!r}")
    return out


def reselect(report: dict, *, alpha: float | None = None, level: float | None = None,
             weights: dict[str, float] | None = None, cost_model: str | None = None,
             **constraints: float | None) -> dict:
    """A new report from a saved one with other settings; models are not re-run.

    ``cost_model`` re-costs the saved measurements under another cost model; each
    candidate is then charged that model's price (its default where the run had none)."""
    from pytest_llmselect.analysis import AnalysisSettings, analyze, inputs_from_report, price_of
    from pytest_llmselect.cost import DEFAULT_PRICE, PRICE_KEYS
    from pytest_llmselect.costmodel import effective_price
    from pytest_llmselect.selection import Constraints

    old = report.get("settings", {})
    if cost_model is not None and cost_model != old.get("cost_model", "time"):
        prices = [effective_price(price_of(c), DEFAULT_PRICE, cost_model) for c in report["candidates"]]
        report = {**report, "settings": {**old, "cost_model": cost_model},
                  "candidates": [{**c, "price": {**{k: getattr(p, k) for k in PRICE_KEYS}, "source": p.source}}
                                 for c, p in zip(report["candidates"], prices)]}
        old = report["settings"]
    settings = AnalysisSettings(
        alpha=old.get("alpha", 10.0) if alpha is None else alpha,
        level=old.get("level", 0.95) if level is None else level,
        seed=old.get("seed", 0),
        cost_model=old.get("cost_model", "time"),
        weights=weights or None,
        constraints=Constraints(**{k: v for k, v in constraints.items() if v is not None}),
    )
    derived = analyze(inputs_from_report(report), settings)
    return {**report, **derived}


def _is_run_log(path: Path) -> bool:
    """A ``.jsonl`` file, or one whose first line is a whole JSON object with a ``run_id``."""
    if path.suffix.lower() == ".jsonl":
        return True
    try:
        with open(path, encoding="utf-8") as fh:
            first = json.loads(fh.readline())
    except (OSError, ValueError):
        return False  # load_report names the problem
    return isinstance(first, dict) and "run_id" in first and "event" in first


def report_from_run_log(path: Path, run_id: str | None = None) -> dict:
    """A report built from one run of a run log (runlog.py), including a run that was killed:
    ``complete`` is false and ``partial`` says so unless the run wrote its ``finish`` line with
    nothing missing; ``missing`` lists the planned cases that never ran (from the ``finish``
    line, or for a killed run the ``plan`` line's cases without a ``case`` line)."""
    from pytest_llmselect import __version__
    from pytest_llmselect.analysis import SCHEMA_VERSION, AnalysisSettings, analyze
    from pytest_llmselect.runlog import report_inputs

    inputs, about = report_inputs(path, run_id)
    old = about["settings"]
    derived = analyze(inputs, AnalysisSettings(alpha=old.get("alpha", 10.0), level=old.get("level", 0.95),
                                               seed=old.get("seed", 0)))
    from pytest_llmselect.accounting import is_raced_out

    partial = not about["finished"] or any(not is_raced_out(m.get("reason")) for m in about["missing"])
    started = about.get("started")
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "pytest-llmselect", "version": __version__},
        **({"created": _dt.datetime.fromtimestamp(started, _dt.timezone.utc).isoformat(timespec="seconds")}
           if isinstance(started, (int, float)) else {}),
        "complete": not partial,
        "partial": partial,
        "missing": about["missing"],
        "run_id": about["run_id"],
        "source": {"run_log": str(path), "finished": about["finished"]},
        **derived,
        "candidates": inputs["candidates"],
        "cases": inputs["cases"],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_llmselect")
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="print or write the report of a saved run, optionally re-selected")
    rep.add_argument("run", type=Path, help="a run.json written by --llm-report, or a run log (.jsonl, "
                     "--llm-run-log): a report of its last run (or --run-id), marked partial if unfinished")
    rep.add_argument("--run-id", default=None, help="with a run log: which run (default: the last started)")
    rep.add_argument("--alpha", type=str, default=None, help="USD per 1,000 cases per unit of loss")
    rep.add_argument("--level", type=float, default=None, help="confidence level (default: the run's)")
    rep.add_argument("--weights", type=str, default="", help="per-task weights, e.g. addition=2,largest=1")
    rep.add_argument("--cost-model", choices=("time", "tokens", "flops"), default=None,
                     help="re-cost the saved measurements under this cost model (default: the run's)")
    rep.add_argument("--min-quality", type=float, default=None)
    rep.add_argument("--max-cost", type=float, default=None, help="USD per 1,000 cases")
    rep.add_argument("--max-latency-p95", type=float, default=None, help="seconds")
    rep.add_argument("--max-peak-memory", type=float, default=None, help="bytes")
    rep.add_argument("--format", choices=("terminal", "md", "json", "html"), default="terminal")
    rep.add_argument("-o", "--output", type=Path, default=None, help="write here instead of printing")
    sub.add_parser("zoo", help="build (or find in the cache) every reference model and list them "
                               "(zoo --help for its options)", add_help=False)
    cache = sub.add_parser("cache", help="list or prune the response cache")
    cache.add_argument("action", choices=("list", "prune"))
    cache.add_argument("--path", type=Path, default=Path(".llmselect/cache.sqlite"),
                       help="the cache file (default .llmselect/cache.sqlite)")
    cache.add_argument("--model", default=None,
                       help="prune: entries of models whose label contains this, or whose key starts with it")
    cache.add_argument("--older-than", type=float, default=None, metavar="DAYS",
                       help="prune: entries not used for this many days")
    cache.add_argument("--all", action="store_true", help="prune: every entry")
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["zoo"]:  # its own options (--jobs, --markdown, names) pass through
            from pytest_llmselect.zoo.__main__ import main as zoo_main

            return zoo_main(argv[1:])
        args = parser.parse_args(argv)
        if args.command == "cache":
            return _cache(args)
        return _report(args)
    except LLMSelectError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _cache(args: argparse.Namespace) -> int:
    import datetime as dt
    import sqlite3

    from tabulate import tabulate

    from pytest_llmselect.cache import ResponseCache

    if not args.path.is_file():
        raise SpecError(f"{args.path}: no response cache there (pytest writes one with --llm-cache=readwrite)")
    if args.action == "prune" and not (args.model or args.older_than is not None or args.all):
        raise SpecError("cache prune needs --model NAME, --older-than DAYS or --all")
    if args.older_than is not None and not args.older_than >= 0:
        raise SpecError(f"--older-than must be a number of days >= 0, got {args.older_than!r}")
    try:
        cache = ResponseCache(args.path, "readwrite" if args.action == "prune" else "read")
        if args.action == "prune":
            deleted = cache.prune(model=args.model, older_than_days=args.older_than)
            print(f"deleted {deleted} cached result(s) from {args.path}")
            return 0
        rows = cache.summary()
    except sqlite3.DatabaseError as exc:
        raise SpecError(f"{args.path}: not a response cache ({exc})") from None

    def when(t: float) -> str:
        return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    table = [(r["label"], r["model_key"][:12], r["entries"], f"{r['bytes'] / 1024:.1f}", when(r["created"]),
              when(r["last_used"])) for r in rows]
    print(tabulate(table, headers=("model", "key", "results", "KiB", "first stored", "last used"),
                   disable_numparse=True))
    print(f"{sum(r['entries'] for r in rows)} result(s) of {len(rows)} model(s) in {args.path}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from pytest_llmselect.candidates import parse_alpha
    from pytest_llmselect.report import load_report, render_html, render_markdown, render_terminal
    from pytest_llmselect.report.jsonio import to_json

    report = report_from_run_log(args.run, args.run_id) if _is_run_log(args.run) else load_report(args.run)
    new = reselect(
        report, alpha=None if args.alpha is None else parse_alpha(args.alpha, "--alpha"), level=args.level,
        weights=_weights(args.weights) or None, cost_model=args.cost_model,
        min_quality=args.min_quality, max_cost=args.max_cost,
        max_latency_p95=args.max_latency_p95, max_peak_memory=args.max_peak_memory,
    )
    render = {"terminal": render_terminal, "md": render_markdown, "json": to_json, "html": render_html}
    text = render[args.format](new)
    if args.output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
