"""``python -m pytest_llmselect.zoo``: build every zoo model and print what it costs and scores."""

from __future__ import annotations

import argparse
import time

from pytest_llmselect.zoo import ALL_ZOO_NAMES, ZOO_NAMES, cache_dir, read_build_record, zoo_path
from pytest_llmselect.zoo.chat import CHAT_NAMES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_llmselect.zoo", description=__doc__)
    names = ZOO_NAMES + CHAT_NAMES
    parser.add_argument("names", nargs="*", default=list(names), help=f"models to build (default: all of {', '.join(names)}; also: "
                        f"{', '.join(n for n in ALL_ZOO_NAMES if n not in ZOO_NAMES)})")
    args = parser.parse_args(argv)
    for name in args.names:
        try:
            zoo_path(name, build=False)  # fail on an unknown name before training anything
        except KeyError as exc:
            parser.error(str(exc.args[0]))

    print(f"cache: {cache_dir() / 'zoo'}")
    header = f"{'name':<20} {'params':>9} {'train s':>8} {'build s':>8} {'addition':>9} {'largest':>8} {'multiples':>10}"
    print(header)
    print("-" * len(header))
    total = time.perf_counter()
    for name in args.names:
        start = time.perf_counter()
        path = zoo_path(name)
        took = time.perf_counter() - start
        rec = read_build_record(path)
        h = rec["heldout"]
        if "addition" not in h:  # a task model (zoo:lookup) is scored on its own task
            scores = " ".join(f"{k}={v:.3f}" for k, v in h.items())
            print(f"{name:<20} {rec['num_parameters']:>9,} {rec['train_seconds']:>8.1f} {took:>8.1f} {scores}",
                  flush=True)
            continue
        print(
            f"{name:<20} {rec['num_parameters']:>9,} {rec['train_seconds']:>8.1f} {took:>8.1f}"
            f" {h['addition']:>9.3f} {h['largest']:>8.3f} {h['multiples']:>10.3f}",
            flush=True,
        )
    print(f"total {time.perf_counter() - total:.1f} s (build s is 0.0 for a cached model)")
    print("addition: exact match; largest: log-likelihood accuracy (4 choices); multiples: token F1")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
