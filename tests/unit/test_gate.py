"""The CI gate's pure logic on synthetic run reports, and its Markdown summary."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_llmselect.analysis import AnalysisSettings, analyze
from pytest_llmselect.confidence import tango_interval as _tango_interval
from pytest_llmselect.errors import DataError, SpecError
from pytest_llmselect.gate import (
    GateSettings,
    compare_runs,
    resolve_incumbent,
    verdict_line,
)
from pytest_llmselect.report.gate_markdown import render_gate_error, render_gate_markdown
from pytest_llmselect.stats import normal_quantile
from tests.gate_samples import bernoulli, degrade

Scores = dict[str, dict[str, list[float]]]  # candidate -> task -> per-case scores


def make_report(scores: Scores, seconds: dict[str, float] | None = None, *, ids: dict[str, list[str]] | None = None,
                fingerprint: str = "suite-v1", higher_is_better: bool = True, metric: str = "exact_match",
                selected: str | None = "keep", machine: dict[str, Any] | None = None,
                generation: Any = None) -> dict[str, Any]:
    """A report as finish.build_session_report makes it (analyze + inputs), from scores alone."""
    seconds = seconds or {}
    tasks = sorted({t for per in scores.values() for t in per})
    cands = [{"name": n, "spec": n, "price": {"usd_per_hour": 3.6, "source": "configured"}} for n in scores]
    cases = []
    for name, per in scores.items():
        for task, values in per.items():
            task_ids = (ids or {}).get(task) or [f"{task}-{i:04d}" for i in range(len(values))]
            cases += [{"task": task, "case_id": cid, "candidate": name, "score": float(v), "output": str(v),
                       "group": None} for cid, v in zip(task_ids, values)]
    measures = {(t, n): {"model_seconds": seconds.get(n, 1.0)} for n in scores for t in scores[n]}
    task_meta = [{"name": t, "metric": metric, "higher_is_better": higher_is_better, "min_quality": None,
                  "weight": 1.0} for t in tasks]
    derived = analyze({"candidates": cands, "tasks": task_meta, "cases": cases, "measures": measures},
                      AnalysisSettings(alpha=1000.0))
    report = {**derived, "candidates": cands, "cases": cases, "suite": {"fingerprint": fingerprint},
              "machine": machine or {"platform": "linux", "cpu_count": 2, "cuda": None, "torch": "2.13.0"}}
    if selected != "keep":
        report["selected"] = selected
    if generation is not None:
        report["settings"]["generation"] = generation
    return report


BASE = bernoulli(120, 0.9, seed=1)


def only(result):
    assert len(result.verdicts) == 1
    return result.verdicts[0]


# ---- verdicts ---------------------------------------------------------------------------


def test_identical_copy_passes_with_enough_cases():
    base = make_report({"m": {"add": BASE}})
    cur = make_report({"copy": {"add": BASE}})
    v = only(compare_runs(base, cur, GateSettings(margin=0.05)))
    assert v.verdict == "PASS" and v.incumbent == "m" and v.candidate == "copy"
    assert v.diff == 0 and v.n_shared == 120 and v.n_unmatched_baseline == v.n_unmatched_current == 0
    # No case differs: the lower bound is the Wilson bound on unseen disagreement, -z^2/(n+z^2).
    z = normal_quantile(0.95)
    assert v.lo == pytest.approx(-z * z / (120 + z * z), abs=1e-6)
    assert v.p_value == 1.0 and v.cost_ratio == pytest.approx(1.0) and v.cases_needed is None


def test_identical_copy_on_few_cases_is_inconclusive_even_at_50_percent():
    # Newcombe's paired interval collapses to [0, 0] here; the gate's must not.
    scores = [1.0, 0.0, 1.0, 0.0]
    v = only(compare_runs(make_report({"m": {"add": scores}}), make_report({"m": {"add": scores}}), GateSettings()))
    assert v.verdict == "INCONCLUSIVE"
    assert v.lo < -0.3 and v.hi > 0.3
    # Shared cases needed before disagreement we cannot see is ruled out beyond the 0.02 margin:
    # z^2/(n+z^2) < 0.02 from n = 133 on.
    assert v.cases_needed == 133
    assert f"~{v.cases_needed} shared cases needed" in verdict_line(v, GateSettings())


def test_degraded_candidate_fails_with_figures():
    worse = degrade(BASE, 40)
    v = only(compare_runs(make_report({"m": {"add": BASE}}), make_report({"bad": {"add": worse}}), GateSettings()))
    assert v.verdict == "FAIL"
    assert v.diff == pytest.approx(-40 / 120)
    assert v.lo < v.diff < v.hi < -0.02
    assert v.p_value < 1e-6 and v.quality < v.incumbent_quality
    line = verdict_line(v, GateSettings())
    assert line.startswith("FAIL add bad vs m; diff -0.333 [") and "margin 0.02" in line and "p=" in line


def test_small_regression_within_margin_passes_and_beyond_margin_fails():
    base = bernoulli(2000, 0.8, seed=3)
    slightly = degrade(base, 10)  # -0.005
    clearly = degrade(base, 200)  # -0.10
    b = make_report({"m": {"add": base}})
    assert only(compare_runs(b, make_report({"c": {"add": slightly}}), GateSettings(margin=0.02))).verdict == "PASS"
    assert only(compare_runs(b, make_report({"c": {"add": clearly}}), GateSettings(margin=0.02))).verdict == "FAIL"
    assert only(compare_runs(b, make_report({"c": {"add": clearly}}), GateSettings(margin=0.2))).verdict == "PASS"


def test_zero_margin_is_a_superiority_test():
    worse = degrade(BASE, 30)
    b = make_report({"m": {"add": worse}})
    assert only(compare_runs(b, make_report({"c": {"add": BASE}}), GateSettings(margin=0))).verdict == "PASS"
    same = only(compare_runs(b, make_report({"c": {"add": worse}}), GateSettings(margin=0)))
    assert same.verdict == "INCONCLUSIVE" and same.cases_needed is None  # no sample size proves 0 > 0


def test_exact_test_must_agree_before_fail_on_a_handful():
    # 4 of 4 discordant: the asymptotic interval excludes the margin, the exact McNemar test
    # (p = 0.125) cannot: INCONCLUSIVE with a reason, and a larger sample suggested.
    v = only(compare_runs(make_report({"m": {"add": [1.0] * 4}}), make_report({"c": {"add": [0.0] * 4}}),
                          GateSettings()))
    assert v.verdict == "INCONCLUSIVE" and v.hi < -0.02 and v.p_value == pytest.approx(0.125)
    assert "exact test" in v.reason and v.cases_needed is not None and v.cases_needed > 4
    v6 = only(compare_runs(make_report({"m": {"add": [1.0] * 6}}), make_report({"c": {"add": [0.0] * 6}}),
                           GateSettings()))
    assert v6.verdict == "FAIL"


def test_lower_is_better_is_mirrored():
    rng = random.Random(5)
    base = [rng.uniform(0.1, 0.3) for _ in range(80)]
    higher = [x + 0.2 for x in base]  # more loss: worse
    lower = [x - 0.05 for x in base]
    kw = {"higher_is_better": False, "metric": "loss"}
    b = make_report({"m": {"loss": base}}, **kw)
    v = only(compare_runs(b, make_report({"c": {"loss": higher}}, **kw), GateSettings()))
    assert v.verdict == "FAIL" and v.diff == pytest.approx(0.2) and v.lo > 0.02
    v = only(compare_runs(b, make_report({"c": {"loss": lower}}, **kw), GateSettings()))
    assert v.verdict == "PASS" and v.diff == pytest.approx(-0.05) and v.hi < 0.02


def test_continuous_scores_without_any_difference_are_not_certain():
    rng = random.Random(2)
    scores = [rng.random() for _ in range(5)]
    v = only(compare_runs(make_report({"m": {"f1": scores}}, metric="token_f1"),
                          make_report({"m": {"f1": scores}}, metric="token_f1"), GateSettings()))
    assert v.verdict == "INCONCLUSIVE" and v.lo < -0.3 and v.cases_needed and v.cases_needed > 100


def test_cost_budget():
    same = make_report({"c": {"add": BASE}}, {"c": 3.0})
    base = make_report({"m": {"add": BASE}}, {"m": 1.0})
    v = only(compare_runs(base, same, GateSettings(margin=0.05, max_cost_ratio=2.0)))
    assert v.verdict == "FAIL" and v.cost_ratio == pytest.approx(3.0) and "over the budget 2" in v.reason
    v = only(compare_runs(base, same, GateSettings(margin=0.05, max_cost_ratio=4.0)))
    assert v.verdict == "PASS"
    v = only(compare_runs(base, same, GateSettings(margin=0.05)))
    assert v.verdict == "PASS" and v.cost_ratio == pytest.approx(3.0)


def test_incumbent_defaults_to_selected_and_can_be_named():
    base = make_report({"good": {"add": BASE}, "bad": {"add": degrade(BASE, 60)}})
    assert base["selected"] == "good"
    assert resolve_incumbent(base, None) == "good"
    cur = make_report({"new": {"add": degrade(BASE, 60)}})
    assert only(compare_runs(base, cur, GateSettings(margin=0.05))).verdict == "FAIL"
    v = only(compare_runs(base, cur, GateSettings(margin=0.05), "bad"))
    assert v.incumbent == "bad" and v.verdict == "PASS"


def test_unknown_incumbent_and_no_selection_are_one_line_errors():
    base = make_report({"good": {"add": BASE}})
    cur = make_report({"new": {"add": BASE}})
    with pytest.raises(SpecError, match=r"^--llm-incumbent 'nope' is not a candidate of the baseline run \(it has: good\)$"):
        compare_runs(base, cur, GateSettings(), "nope")
    two = make_report({"good": {"add": BASE}, "bad": {"add": BASE}}, selected=None)
    with pytest.raises(DataError, match=r"selected no candidate.*--llm-incumbent=NAME \(one of: good, bad\)"):
        compare_runs(two, cur, GateSettings())
    # A baseline with one candidate names it even when it was excluded.
    assert only(compare_runs(make_report({"good": {"add": BASE}}, selected=None), cur, GateSettings())).incumbent == "good"


def test_every_candidate_of_the_run_is_gated_per_task():
    base = make_report({"m": {"add": BASE, "mul": BASE[:60]}})
    cur = make_report({"a": {"add": BASE, "mul": BASE[:60]}, "b": {"add": degrade(BASE, 50), "mul": BASE[:60]}})
    res = compare_runs(base, cur, GateSettings(margin=0.05))
    assert [(v.task, v.candidate) for v in res.verdicts] == [("add", "a"), ("mul", "a"), ("add", "b"), ("mul", "b")]
    assert res.find("add", "b").verdict == "FAIL" and res.verdict == "FAIL" and res.failed
    assert res.find("add", "a").verdict == "PASS"


# ---- mismatches ---------------------------------------------------------------------------


def test_partial_overlap_compares_on_the_intersection_and_explains():
    ids_b = [f"c{i:03d}" for i in range(100)]
    ids_c = [f"c{i:03d}" for i in range(40, 140)]
    base = make_report({"m": {"add": BASE[:100]}}, ids={"add": ids_b}, fingerprint="v1")
    cur = make_report({"m": {"add": BASE[20:120]}}, ids={"add": ids_c}, fingerprint="v2")
    res = compare_runs(base, cur, GateSettings(), baseline_label="0003_main.json")
    v = only(res)
    assert (v.n_shared, v.n_unmatched_baseline, v.n_unmatched_current) == (60, 40, 40)
    assert any("40 baseline case(s) of 'add' not in this run ('c000', 'c001', 'c002', ...): the suite changed" in r
               for r in v.unmatched_reasons)
    assert any("40 case(s) of 'add' in this run not in the baseline" in r for r in v.unmatched_reasons)
    assert any("fingerprint v1 vs v2" in n for n in res.notes)


def test_cut_down_suite_is_called_a_subset():
    base = make_report({"m": {"add": BASE}}, fingerprint="full")
    cur = make_report({"m": {"add": BASE[:5]}}, fingerprint="cut")
    v = only(compare_runs(base, cur, GateSettings()))
    assert v.n_shared == 5 and v.n_unmatched_baseline == 115 and v.n_unmatched_current == 0
    assert "a subset of the baseline's cases" in v.unmatched_reasons[0]
    assert v.verdict == "INCONCLUSIVE" and v.cases_needed and v.cases_needed > 5


def test_tasks_only_in_one_run():
    base = make_report({"m": {"add": BASE, "old": BASE[:10]}})
    cur = make_report({"c": {"add": BASE, "new": BASE[:10]}})
    res = compare_runs(base, cur, GateSettings(margin=0.05))
    new = res.find("new", "c")
    assert new.verdict == "INCONCLUSIVE" and new.n_shared == 0 and "not in the baseline" in new.reason
    assert new.diff is None and new.cases_needed is None
    assert any("only in the baseline, not compared: old" in n for n in res.notes)
    assert res.find("add", "c").verdict == "PASS"


def test_no_shared_case_at_all_is_an_error():
    base = make_report({"m": {"add": BASE[:10]}}, ids={"add": [f"x{i}" for i in range(10)]}, fingerprint="a")
    cur = make_report({"c": {"add": BASE[:10]}}, ids={"add": [f"y{i}" for i in range(10)]}, fingerprint="b")
    with pytest.raises(DataError, match=r"no case of this run matches the baseline b\.json \(incumbent m\).*"
                                        r"the suites differ: nothing to compare"):
        compare_runs(base, cur, GateSettings(), baseline_label="b.json")


def test_changed_metric_is_not_compared():
    base = make_report({"m": {"add": BASE}}, metric="exact_match")
    cur = make_report({"c": {"add": BASE}}, metric="contains")
    v = only(compare_runs(base, cur, GateSettings()))
    assert v.verdict == "INCONCLUSIVE" and "changed its metric" in v.reason and v.diff is None


def test_generation_settings_compared_only_when_both_recorded():
    gen_a, gen_b = {"max_new_tokens": 5}, {"max_new_tokens": 8}
    res = compare_runs(make_report({"m": {"add": BASE}}, generation=gen_a),
                       make_report({"c": {"add": BASE}}, generation=gen_b), GateSettings())
    assert any("generation settings differ" in n for n in res.notes)
    res = compare_runs(make_report({"m": {"add": BASE}}), make_report({"c": {"add": BASE}}, generation=gen_b),
                       GateSettings())
    assert not any("generation" in n for n in res.notes)


def test_other_machine_is_noted_for_the_cost_ratio():
    res = compare_runs(make_report({"m": {"add": BASE}}, machine={"platform": "A", "cpu_count": 2}),
                       make_report({"c": {"add": BASE}}, machine={"platform": "B", "cpu_count": 2}),
                       GateSettings())
    assert any("different machines (platform 'A' vs 'B'" in n for n in res.notes)


# ---- settings and strictness ----------------------------------------------------------------


@pytest.mark.parametrize("margin", [-0.01, math.nan, math.inf, "0.1", True])
def test_bad_margin_is_a_spec_error(margin):
    with pytest.raises(SpecError, match=r"^--llm-margin must be a finite number >= 0, got "):
        GateSettings(margin=margin)


@pytest.mark.parametrize("ratio", [0, -1.0, math.inf])
def test_bad_cost_ratio_is_a_spec_error(ratio):
    with pytest.raises(SpecError, match="--llm-max-cost-ratio must be a finite number > 0"):
        GateSettings(max_cost_ratio=ratio)


def test_strict_fails_inconclusive():
    base, cur = make_report({"m": {"add": BASE[:5]}}), make_report({"m": {"add": BASE[:5]}})
    assert compare_runs(base, cur, GateSettings()).verdict == "INCONCLUSIVE"
    assert not compare_runs(base, cur, GateSettings()).failed
    assert compare_runs(base, cur, GateSettings(strict=True)).failed


def test_tango_interval_matches_closed_form_and_covers():
    z = normal_quantile(0.95)
    lo, hi = _tango_interval(0, 0, 50, z)
    assert lo == pytest.approx(-z * z / (50 + z * z)) and hi == pytest.approx(z * z / (50 + z * z))
    assert _tango_interval(10, 0, 10, z)[1] == 1.0 and _tango_interval(0, 10, 10, z)[0] == -1.0
    # One-sided non-coverage near the nominal 5% (seeded simulation).
    rng, misses, trials, (p10, p01, n) = random.Random(0), 0, 2000, (0.05, 0.10, 60)
    for _ in range(trials):
        u = [rng.random() for _ in range(n)]
        b, c = sum(x < p10 for x in u), sum(p10 <= x < p10 + p01 for x in u)
        misses += _tango_interval(b, c, n, z)[0] > p10 - p01
    assert 0.02 < misses / trials < 0.08


# ---- properties --------------------------------------------------------------------------


scores_st = st.one_of(
    st.lists(st.sampled_from([0.0, 1.0]), min_size=1, max_size=60),
    st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=1, max_size=40),
)


@settings(max_examples=80, deadline=None)
@given(scores_st, st.floats(0.0, 0.5), st.one_of(st.none(), st.floats(1.0, 10.0)), st.booleans())
def test_identical_runs_never_fail(scores, margin, ratio, hib):
    kw = {"higher_is_better": hib, "metric": "m"}
    res = compare_runs(make_report({"m": {"t": scores}}, **kw), make_report({"m": {"t": scores}}, **kw),
                       GateSettings(margin=margin, max_cost_ratio=ratio))
    assert only(res).verdict != "FAIL"


VERDICT_RANK = {"FAIL": 0, "INCONCLUSIVE": 1, "PASS": 2}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.0, 1.0]), st.sampled_from([0.0, 1.0])), min_size=1, max_size=80),
       st.lists(st.floats(0.0, 0.6), min_size=2, max_size=6))
def test_verdict_is_monotone_in_the_margin(pairs, margins):
    base = make_report({"m": {"t": [b for _, b in pairs]}})
    cur = make_report({"c": {"t": [a for a, _ in pairs]}})
    ranks = [VERDICT_RANK[only(compare_runs(base, cur, GateSettings(margin=m))).verdict] for m in sorted(margins)]
    assert ranks == sorted(ranks)


# ---- Markdown summary ----------------------------------------------------------------------


def test_markdown_summary_table_reasons_and_escaping():
    evil = "evil|model <b>&"
    base = make_report({"m": {"add": BASE}}, fingerprint="v1")
    cur = make_report({evil: {"add": degrade(BASE[:100], 30)}, "copy": {"add": BASE[:100]}}, fingerprint="v2")
    md = render_gate_markdown(compare_runs(base, cur, GateSettings(margin=0.05), baseline_label="runs/0001_main.json"))
    assert md.startswith("## \u274c LLM gate: FAIL (the job fails)")
    assert "evil\\|model &lt;b&gt;&amp;" in md and "<b>" not in md
    header = next(line for line in md.splitlines() if line.startswith("| task |"))
    rows = [line for line in md.splitlines() if line.startswith("| add |")]
    assert len(rows) == 2
    # A `|` inside a name must not add a cell.
    cells = lambda line: len(line.replace("\\|", "").split("|"))  # noqa: E731
    assert all(cells(r) == cells(header) for r in rows)
    assert "FAIL" in rows[0] and "PASS" in rows[1]
    assert "**Unmatched cases**" in md and "20 baseline case(s) of 'add' not in this run" in md
    assert "fingerprint v1 vs v2" in md and "runs/0001\\_main.json" in md


def test_markdown_summary_inconclusive_shows_cases_needed():
    res = compare_runs(make_report({"m": {"add": BASE[:5]}}), make_report({"m": {"add": BASE[:5]}}), GateSettings())
    md = render_gate_markdown(res)
    assert "LLM gate: INCONCLUSIVE (the job passes (pass --llm-strict" in md
    assert f"| {res.verdicts[0].cases_needed} |" in md


def test_markdown_error():
    md = render_gate_error("b.json: truncated JSON <x>", "b.json")
    assert md.startswith("## \u274c LLM gate: ERROR (baseline b.json)") and "&lt;x&gt;" in md
