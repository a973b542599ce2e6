"""Write the held-out cases of each zoo task family to ``suites/data/<family>.jsonl``.

``python -m pytest_llmselect.zoo.make_suite_data [--out DIR] [--check]``. The output
is a pure function of the generators in ``tasks.py``: rerunning rewrites identical
files, and ``--check`` fails if the files on disk differ (for CI).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pytest_llmselect.zoo.tasks import FAMILIES, eval_cases

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "suites" / "data"


def render(family: str) -> str:
    # ensure_ascii and a fixed field order keep the bytes identical across runs and platforms.
    return "".join(json.dumps(case.to_json(), ensure_ascii=True) + "\n" for case in eval_cases(family))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_llmselect.zoo.make_suite_data", description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default: {DEFAULT_OUT})")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is missing or differs")
    args = parser.parse_args(argv)

    stale = []
    for family in FAMILIES:
        path = args.out / f"{family}.jsonl"
        text = render(family)
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(path)
            continue
        args.out.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        print(f"wrote {path} ({text.count(chr(10))} cases)")
    if stale:
        print("out of date (run python -m pytest_llmselect.zoo.make_suite_data):", *stale, sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
