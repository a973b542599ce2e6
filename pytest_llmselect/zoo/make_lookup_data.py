"""Write (or check) the data of ``examples/fewshot``: ``python -m pytest_llmselect.zoo.make_lookup_data
[--check] [--out DIR]``. Its own module, not ``lookup.py``'s: the package imports ``lookup`` (for
its training sampler), and ``python -m`` on an already imported module warns."""

from __future__ import annotations

from pytest_llmselect.zoo.lookup import render_files


def main(argv: list[str] | None = None) -> int:
    """``python -m pytest_llmselect.zoo.make_lookup_data [--check] [--out DIR]``: write (or check) the data
    of ``examples/fewshot``."""
    import argparse
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python -m pytest_llmselect.zoo.make_lookup_data", description=main.__doc__)
    default = Path(__file__).resolve().parents[2] / "examples" / "fewshot" / "data"
    parser.add_argument("--out", type=Path, default=default)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file differs")
    args = parser.parse_args(argv)
    stale = []
    for name, text in render_files().items():
        path = args.out / name
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
            continue
        args.out.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
        print(f"wrote {path} ({text.count(chr(10))} rows)")
    if stale:
        print("out of date (run python -m pytest_llmselect.zoo.make_lookup_data):", *stale)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
