"""Timing that follows the decision (issue 24, point 4): one timed round of each group's model
work, and more rounds only for the groups whose cost can change the pick; an explicit
``--llm-benchmark-rounds=N`` still times every group N times. Real zoo models."""

from __future__ import annotations

import pytest

from suitekit import read_json

pytestmark = pytest.mark.slow

QUIET = ("--llm-latency-sample=0", "--llm-cpu-threads=1", "-p", "no:cacheprovider", "-p", "no:randomly")

# The same model under two names: equal quality on every case, so only cost can decide
# between them; zoo:tiny is far worse, so no cost moves the pick to it.
TIE = """
[[candidate]]
spec = "zoo:base"
name = "base-a"

[[candidate]]
spec = "zoo:base"
name = "base-b"

[[candidate]]
spec = "zoo:tiny"
name = "tiny"
"""


def _groups(report: dict) -> dict[tuple[str, str], dict]:
    return {(t["name"], r["candidate"]): r for t in report["tasks"] for r in t["results"]}


def test_one_timed_round_per_group_where_cost_cannot_change_the_pick(suite):
    pt = suite(n_addition=8, n_largest=6)
    result = pt.runpytest_subprocess("--llm-candidates=zoo:tiny,zoo:base", "--llm-report=run.json",
                                     "--llm-cache=off", *QUIET)
    result.assert_outcomes(passed=2 * 14)
    rows = _groups(read_json(pt.path / "run.json"))
    assert len(rows) == 4
    for key, row in rows.items():
        m = row["measures"]
        assert len(m["round_seconds"]) == 1, key  # was 3 before: every time-priced local group
        assert m["timing_rounds_reason"] is None
        assert m["model_seconds"] == pytest.approx(m["round_seconds"][0])
        assert row["cost_method"] == ("one timing round; interval from the 20% run-level drift allowance and the 10% "
                                      "spread of rounds measured on a shared machine")
        assert row["cost_lo"] < row["cost"] < row["cost_hi"]
    assert "timing again" not in result.stdout.str()


def test_only_the_groups_tied_on_quality_get_more_rounds_and_a_cached_rerun_keeps_them(suite):
    pt = suite(n_addition=8, n_largest=6)
    pt.path.joinpath("tie.toml").write_text(TIE, encoding="utf-8")
    result = pt.runpytest_subprocess("--llm-candidates=@tie.toml", "--llm-report=run.json",
                                     "--llm-cache-path=cache.sqlite", *QUIET)
    result.assert_outcomes(passed=3 * 14)
    report = read_json(pt.path / "run.json")
    rows = _groups(report)
    retimed = {key for key, r in rows.items() if r["measures"]["timing_rounds_reason"]}
    assert retimed == {(t, c) for t in ("addition", "largest") for c in ("base-a", "base-b")}
    for key, row in rows.items():
        m = row["measures"]
        if key in retimed:
            assert len(m["round_seconds"]) == 3 and all(x > 0 for x in m["round_seconds"])
            assert m["model_seconds"] == pytest.approx(sum(m["round_seconds"]) / 3)
            assert "cost could" in m["timing_rounds_reason"] and "t interval over 3 timing rounds" in row["cost_method"]
        else:
            assert len(m["round_seconds"]) == 1 and m["timing_rounds_reason"] is None
    result.stdout.fnmatch_lines(["*timing again: 4 group(s) whose cost can change the pick*"])

    # Again from the cache: each answer's rounds come back with it, so nothing is timed again.
    again = pt.runpytest_subprocess("--llm-candidates=@tie.toml", "--llm-report=again.json",
                                    "--llm-cache-path=cache.sqlite", *QUIET)
    again.assert_outcomes(passed=3 * 14)
    rows2 = _groups(read_json(pt.path / "again.json"))
    for key in retimed:
        m2 = rows2[key]["measures"]
        assert m2["cache_hits"] == m2["requests"] and len(m2["round_seconds"]) == 3
        assert m2["timing_rounds_reason"] is None
    assert "timing again" not in again.stdout.str()


def test_an_explicit_number_of_rounds_times_every_group_that_often(suite):
    pt = suite(n_addition=6, n_largest=4)
    pt.path.joinpath("tie.toml").write_text(TIE, encoding="utf-8")
    result = pt.runpytest_subprocess("--llm-candidates=@tie.toml", "--llm-report=run.json", "--llm-cache=off",
                                     "--llm-benchmark-rounds=2", *QUIET)
    result.assert_outcomes(passed=3 * 10)
    for key, row in _groups(read_json(pt.path / "run.json")).items():
        assert len(row["measures"]["round_seconds"]) == 2, key
        assert row["measures"]["timing_rounds_reason"] is None
