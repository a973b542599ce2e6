"""``python -m pytest_llmselect.zoo.worker NAME``: build one zoo model, reporting progress.

Started by ``zoo.build.build_many``; prints one JSON object per line on stdout,
``{"step": done, "steps": total, "seconds": elapsed}``, at most every 0.2 s and at the
last step. Exit code 0 when the model is in the cache.
"""

from __future__ import annotations

import json
import sys
import time


def main(argv: list[str]) -> int:
    from pytest_llmselect.zoo import zoo_path

    if len(argv) != 1:
        print("usage: python -m pytest_llmselect.zoo.worker NAME", file=sys.stderr)
        return 2
    last = 0.0

    def report(done: int, total: int, seconds: float) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= 0.2 or done == total:
            last = now
            print(json.dumps({"step": done, "steps": total, "seconds": round(seconds, 3)}), flush=True)

    zoo_path(argv[0], on_step=report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
