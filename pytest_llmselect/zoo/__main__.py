"""``python -m pytest_llmselect zoo``: build every zoo model and print what it costs and scores."""

from __future__ import annotations

import argparse
import sys
import time

from pytest_llmselect.zoo import ALL_ZOO_NAMES, ZOO_NAMES, cache_dir, read_build_record, zoo_path
from pytest_llmselect.zoo.build import BuildEvent, build_many, default_jobs
from pytest_llmselect.zoo.chat import CHAT_MODELS, CHAT_NAMES

NOTE = "addition: exact match; largest: log-likelihood accuracy (4 choices); multiples: token F1"


def table(names: list[str]) -> list[str]:
    """The zoo table in Markdown, from the build records (each model must be built)."""
    out = ["| model | params | addition (exact match) | largest (choice accuracy) | multiples (token F1) |",
           "|---|---:|---:|---:|---:|"]
    for name in names:
        rec = read_build_record(zoo_path(name, build=False))
        h = rec["heldout"]
        out.append(f"| `zoo:{name}` | {rec['num_parameters']:,} | {h['addition']:.3f} | {h['largest']:.3f}"
                   f" | {h['multiples']:.3f} |")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_llmselect zoo", description=__doc__)
    names = ZOO_NAMES + CHAT_NAMES
    parser.add_argument("names", nargs="*", default=list(names), help=f"models to build (default: all of {', '.join(names)}; also: "
                        f"{', '.join(n for n in ALL_ZOO_NAMES if n not in ZOO_NAMES)})")
    parser.add_argument("--jobs", type=int, default=None,
                        help=f"models trained at once, one process and one thread each (default: CPU cores, {default_jobs()})")
    parser.add_argument("--markdown", action="store_true", help="print only the table, in Markdown (as in the README)")
    args = parser.parse_args(argv)
    for name in args.names:
        try:
            zoo_path(name, build=False)  # fail on an unknown name before training anything
        except KeyError as exc:
            parser.error(str(exc.args[0]))
    if args.jobs is not None and args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")

    built: dict[str, float] = {}
    last = [0.0]

    def show(event: BuildEvent) -> None:
        # Progress goes to stderr, a line every few seconds: the table stays clean on stdout.
        if event.kind == "start":
            print(f"building zoo:{event.name} ({event.steps} steps) ...", file=sys.stderr, flush=True)
        elif event.kind == "end":
            built[event.name] = event.seconds
            print(f"built zoo:{event.name} in {event.seconds:.1f}s", file=sys.stderr, flush=True)
        elif time.monotonic() - last[0] >= 5.0:
            last[0] = time.monotonic()
            print(f"  zoo:{event.name} step {event.step}/{event.steps}", file=sys.stderr, flush=True)

    total = time.perf_counter()
    # A chat variant is its base model's weights with a chat template: train the base,
    # then copy it (no training of its own).
    trained = [CHAT_MODELS.get(name, name) for name in args.names]
    build_many(dict.fromkeys(trained), jobs=args.jobs, on_event=show)
    for name in args.names:
        zoo_path(name)
    if args.markdown:
        print("\n".join(table([name for name in args.names if name not in CHAT_MODELS])))
        return 0
    print(f"cache: {cache_dir() / 'zoo'}")
    header = f"{'name':<20} {'params':>9} {'train s':>8} {'build s':>8} {'addition':>9} {'largest':>8} {'multiples':>10}"
    print(header)
    print("-" * len(header))
    for name in args.names:
        rec = read_build_record(zoo_path(name, build=False))
        h = rec["heldout"]
        if "addition" not in h:  # a task model (zoo:lookup) is scored on its own task
            scores = " ".join(f"{k}={v:.3f}" for k, v in h.items())
            print(f"{name:<20} {rec['num_parameters']:>9,} {rec['train_seconds']:>8.1f} {took:>8.1f} {scores}",
                  flush=True)
            continue
        print(
            f"{name:<20} {rec['num_parameters']:>9,} {rec['train_seconds']:>8.1f} {built.get(name, 0.0):>8.1f}"
            f" {h['addition']:>9.3f} {h['largest']:>8.3f} {h['multiples']:>10.3f}",
            flush=True,
        )
    print(f"total {time.perf_counter() - total:.1f} s (build s is 0.0 for a cached model)")
    print(NOTE)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
