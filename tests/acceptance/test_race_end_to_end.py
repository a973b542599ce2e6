"""--llm-race end to end with real zoo models: a raced-out candidate's cases end not run with
the reason, the pytest items are skipped naming it, the run stays complete, and the pick is
the full run's."""

from __future__ import annotations

import pytest

from suitekit import read_json

ARGS = ("-p", "no:cacheprovider", "--llm-candidates=zoo:tiny,zoo:base", "--llm-cache=off", "--llm-run-log=",
        "--llm-cpu-threads=1", "--llm-latency-sample=0", "--llm-alpha=10")


def test_race_drops_the_clear_loser_and_picks_as_a_full_run(suite) -> None:
    pytester = suite(n_addition=64, n_largest=0)
    (pytester.path / "test_largest.py").unlink()
    raced = pytester.runpytest_subprocess("-rs", *ARGS, "--llm-race=16", "--llm-report=race.json")
    report = read_json(pytester.path / "race.json")
    out = {(m["candidate"], m["reason"]): m["count"] for m in report["missing"]}
    [(loser, reason)] = list(out)
    after = report["race"]["tasks"][0]["raced_out"][0]["cases"]
    assert loser == "zoo:tiny" and reason == f"raced out after {after} cases" and after < 64
    assert out[(loser, reason)] == 64 - after
    raced.assert_outcomes(passed=64 + after, skipped=64 - after)
    raced.stdout.fnmatch_lines([f"SKIPPED*raced out after {after} cases: zoo:tiny on task 'addition'*"])
    assert report["complete"] is True
    rows = {r["candidate"]: r for r in report["tasks"][0]["results"]}
    assert rows["zoo:tiny"]["n"] == after and rows["zoo:tiny"]["n_raced_out"] == 64 - after
    assert rows["zoo:base"]["n"] == 64
    assert report["tasks"][0]["selection"]["excluded"]["zoo:tiny"] == f"raced out after {after} cases"
    assert 0 < report["race"]["share_of_full"]["requests"] < 1
    assert "never drops the candidate with the best expected objective" in report["race"]["guarantee"]
    raced.stdout.fnmatch_lines(["*Race: addition: raced out: zoo:tiny after stage*", "*Race saved:*"])
    assert "PARTIAL RUN" not in raced.stdout.str()

    full = pytester.runpytest_subprocess(*ARGS, "--llm-race=off", "--llm-report=full.json")
    full.assert_outcomes(passed=128)
    whole = read_json(pytester.path / "full.json")
    assert "race" not in whole and whole["complete"] is True
    assert report["selected"] == whole["selected"] == "zoo:base"


def test_race_shares_one_case_order_and_stages_the_items(suite) -> None:
    pytester = suite(n_addition=40, n_largest=0)
    (pytester.path / "test_largest.py").unlink()
    result = pytester.runpytest_subprocess("--collect-only", "-q", *ARGS, "--llm-race=16")
    ids = [line for line in result.stdout.lines if "test_addition[" in line]
    first_stage = ids[:32]  # 16 cases of zoo:tiny, then the same 16 of zoo:base
    tiny = [i.split("[", 1)[1].replace("zoo:tiny", "") for i in first_stage[:16]]
    base = [i.split("[", 1)[1].replace("zoo:base", "") for i in first_stage[16:]]
    assert all("zoo:tiny" in i for i in first_stage[:16]) and tiny == base
    assert tiny != sorted(tiny) and len(set(tiny)) == 16  # the seeded order (seed 0), one item per case


def test_a_bad_race_value_is_one_line(suite) -> None:
    pytester = suite(n_addition=4, n_largest=0)
    result = pytester.runpytest_subprocess(*ARGS, "--llm-race=fast")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--llm-race must be off, on or a block size*'fast'*"])
