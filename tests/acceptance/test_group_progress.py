"""A group's progress line: its time left covers all that remains of the group (warm-up and
timed rounds, then the latency sample), not only the round under way; its final line counts
in the singular where there is one.

Model runs go through a subprocess (see test_plugin_end_to_end.py for why).
"""

from __future__ import annotations

import json

import pytest

from suitekit import ADDITION_SUITE, head_jsonl

pytestmark = pytest.mark.slow

# Records what the runner asks of the progress meter (the text is still the meter's own).
RECORDING_CONFTEST = '''
import json
import pytest_llmselect.progress as progress

_meter = progress.meter

def meter(prefix, done, total, seconds, unit, **plan):
    text = _meter(prefix, done, total, seconds, unit, **plan)
    with open("meter.jsonl", "a", encoding="utf-8") as out:
        out.write(json.dumps({"prefix": prefix, "done": done, "total": total, "plan": plan}) + "\\n")
    return text

progress.meter = meter
'''


def test_time_left_counts_every_round_and_the_latency_sample(pytester: pytest.Pytester):
    data = pytester.mkdir("data")
    (data / "addition.jsonl").write_text(head_jsonl("addition.jsonl", 6), encoding="utf-8")
    pytester.makepyfile(test_addition=ADDITION_SUITE.replace("{extra}", ""))
    pytester.makeconftest(RECORDING_CONFTEST)
    result = pytester.runpytest_subprocess(
        "--llm-candidates=zoo:tiny", "--llm-batch-size=2", "--llm-benchmark-warmup=1", "--llm-benchmark-rounds=3",
        "--llm-latency-sample=2", "--llm-cache=off", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=6)
    calls = [json.loads(line) for line in (pytester.path / "meter.jsonl").read_text().splitlines()]
    by_round: dict[str, list[dict]] = {}
    for call in calls:
        by_round.setdefault(call["prefix"].rsplit(", ", 1)[1], []).append(call)
    assert list(by_round) == ["warm-up round 1/1", "round 1/3", "round 2/3", "round 3/3"]
    for name, seen in by_round.items():
        assert [c["done"] for c in seen] == [1, 2, 3] and {c["total"] for c in seen} == {3}
        after = 3 if name.startswith("warm-up") else 3 - int(name.split()[1].split("/")[0])
        # Rounds after this one, and the 2 requests of the latency sample that follow them.
        assert {(c["plan"]["rounds_after"], c["plan"]["alone"]) for c in seen} == {(after, 2)}
        # From the second round on, the rounds to come are as long as the last one was.
        first = name == "warm-up round 1/1"
        assert all((c["plan"]["round_seconds"] is None) == first for c in seen)
    # Six requests in three batches of two, each round; one batch is singular.
    result.stdout.fnmatch_lines(["llmselect: addition · zoo:tiny: 6 requests in 3 batches, *s of model time"])

    again = pytester.runpytest_subprocess("--llm-candidates=zoo:tiny", "--llm-batch-size=8", "-k", "addition-000",
                                          "--llm-cache=off", "-p", "no:cacheprovider")
    again.assert_outcomes(passed=1)
    again.stdout.fnmatch_lines(["llmselect: addition · zoo:tiny: 1 request in 1 batch, *s of model time"])
