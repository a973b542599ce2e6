"""How the gate reads two reports: settings validation, incumbent, candidate names, notes,
tasks it cannot compare, and its error messages, each pinned exactly."""

from __future__ import annotations

import math
import re

import pytest

from pytest_llmselect.errors import DataError, SpecError
from pytest_llmselect.gate import GateSettings, compare_runs, resolve_incumbent
from pytest_llmselect.run_pairing import _candidate_names
from tests.gate_samples import bernoulli
from tests.unit.test_gate import make_report

BASE = bernoulli(40, 0.9, seed=1)


@pytest.mark.parametrize("level", [0.5, 1.0, 1.5, True, "0.9", math.nan])
def test_level_must_lie_strictly_between_one_half_and_one(level):
    with pytest.raises(SpecError, match=re.escape(f"gate level must be a number strictly between 0.5 and 1, got {level!r}")):
        GateSettings(level=level)


def test_settings_accept_their_edges_and_name_the_type_of_a_bad_value():
    GateSettings(level=0.500001, margin=0.0, max_cost_ratio=1e-9)
    GateSettings(level=0.999999)
    with pytest.raises(SpecError, match=re.escape("--llm-margin must be a finite number >= 0, got '0.1' of type str")):
        GateSettings(margin="0.1")
    with pytest.raises(SpecError, match=re.escape("--llm-max-cost-ratio must be a finite number > 0, got '2' of type str")):
        GateSettings(max_cost_ratio="2")
    with pytest.raises(SpecError, match=re.escape("--llm-max-cost-ratio must be a finite number > 0, got True of type bool")):
        GateSettings(max_cost_ratio=True)


def test_candidate_names_come_from_candidates_then_cases_in_order_without_repeats():
    report = {"candidates": [{"name": "b"}, {"spec": "no-name"}, "junk", {"name": "a"}],
              "cases": [{"candidate": "c"}, {"candidate": "a"}, {"candidate": "c"}]}
    assert _candidate_names(report) == ["b", "a", "c"]
    assert _candidate_names({"candidates": None, "cases": None}) == []
    assert _candidate_names({"cases": [{"candidate": "x"}]}) == ["x"]


def test_incumbent_messages():
    base = make_report({"good": {"t": BASE}})
    with pytest.raises(SpecError, match=re.escape("--llm-incumbent 'x' is not a candidate of the baseline run (it has: good)")):
        resolve_incumbent(base, "x")
    with pytest.raises(SpecError, match=re.escape("of the baseline b.json (it has: none)")):
        resolve_incumbent({"candidates": [], "cases": []}, "x", "b.json")
    two = make_report({"good": {"t": BASE}, "bad": {"t": BASE}}, selected=None)
    with pytest.raises(DataError, match=re.escape(
            "the baseline b.json selected no candidate (every one was excluded); name the model to compare with: "
            "--llm-incumbent=NAME (one of: good, bad)")):
        compare_runs(two, make_report({"c": {"t": BASE}}), GateSettings(), baseline_label="b.json")
    res = compare_runs(base, make_report({"c": {"t": BASE}}), GateSettings())
    assert res.incumbent == "good" and res.baseline == "run"


def test_no_shared_case_and_no_case_messages():
    base = make_report({"m": {"t": BASE[:3]}}, ids={"t": ["a", "b", "c"]})
    cur = make_report({"c": {"u": BASE[:2]}}, ids={"u": ["x", "y"]})
    with pytest.raises(DataError, match=re.escape(
            "no case of this run matches the baseline run (incumbent m): this run has 2 case(s) of task(s) u, "
            "the baseline 3 of t: nothing to compare")):
        compare_runs(base, cur, GateSettings())
    empty = dict(make_report({"c": {"t": BASE}}), cases=[])
    with pytest.raises(DataError, match=re.escape("this run recorded no case: nothing to compare with the baseline")):
        compare_runs(base, empty, GateSettings())


def test_notes_name_what_differs():
    base = make_report({"m": {"t": BASE, "old1": BASE[:5], "old2": BASE[:5]}}, fingerprint="v1",
                       machine={"platform": "A", "cpu_count": 2, "cuda": None, "torch": "2.13"})
    cur = make_report({"c": {"t": BASE}}, fingerprint="v2",
                      machine={"platform": "A", "cpu_count": 8, "cuda": "12.4", "torch": "2.14"})
    notes = compare_runs(base, cur, GateSettings()).notes
    assert notes == (
        "the suite differs from the baseline's (fingerprint v1 vs v2): compared on the cases both runs share",
        "task(s) only in the baseline, not compared: old1, old2",
        "costs were measured on different machines (cpu_count 2 vs 8; cuda None vs '12.4'; torch '2.13' vs '2.14'): "
        "the cost ratio mixes them",
    )
    # No fingerprint on one side, the same machine, no machine block: no notes.
    same = make_report({"c": {"t": BASE}}, fingerprint=None)
    assert compare_runs(base, same, GateSettings()).notes[0].startswith("task(s) only in the baseline")
    bare = dict(make_report({"c": {"t": BASE}}))
    bare.pop("machine")
    assert not any("machines" in n for n in compare_runs(base, bare, GateSettings()).notes)


def test_tasks_that_cannot_be_compared():
    base = make_report({"m": {"t": BASE}})
    cur = make_report({"c": {"t": BASE, "new": BASE[:4]}})
    new = compare_runs(base, cur, GateSettings()).find("new", "c")
    assert (new.n_shared, new.n_unmatched_baseline, new.n_unmatched_current) == (0, 0, 4)
    assert new.unmatched_reasons == ("task 'new' is not in the baseline: nothing to compare with",)
    assert new.verdict == "INCONCLUSIVE" and new.higher_is_better is True
    # The baseline has the task, but not for the incumbent.
    base2 = make_report({"m": {"t": BASE}, "other": {"new": BASE[:4]}})
    v = compare_runs(base2, cur, GateSettings(), "m").find("new", "c")
    assert v.reason == "the baseline has no case of task 'new' for m" and v.n_unmatched_baseline == 0
    # Direction changed: not comparable, every baseline case counted as unmatched.
    flipped = make_report({"c": {"t": BASE}}, higher_is_better=False, metric="exact_match")
    v = compare_runs(base, flipped, GateSettings()).find("t", "c")
    assert v.reason == ("task 't' changed its higher_is_better (True in the baseline, False now): "
                        "the qualities are not comparable")
    assert v.n_unmatched_baseline == 40 and v.higher_is_better is False and v.diff is None
    # No case in common within the task: reasons kept, counts given.
    other = make_report({"c": {"t": BASE[:4]}}, ids={"t": ["x", "y", "z", "w"]}, fingerprint="v2")
    base3 = make_report({"m": {"t": BASE[:4], "u": BASE[:3]}}, fingerprint="v1")
    cur3 = dict(other)
    cur3["cases"] = other["cases"] + [dict(c, candidate="c") for c in base3["cases"] if c["task"] == "u"]
    cur3["tasks"] = other["tasks"] + [t for t in base3["tasks"] if t["name"] == "u"]
    v = compare_runs(base3, cur3, GateSettings()).find("t", "c")
    assert v.reason == "no case of task 't' is in both runs" and v.n_unmatched_baseline == 4
    assert v.unmatched_reasons[0].startswith("4 baseline case(s) of 't' not in this run")


def test_generation_settings_of_a_task_are_compared_only_when_both_recorded():
    base = make_report({"m": {"t": BASE}})
    cur = make_report({"c": {"t": BASE}})
    base["tasks"][0]["generation"] = [{"max_new_tokens": 5}]
    cur["tasks"][0]["generation"] = [{"max_new_tokens": 8}]
    v = compare_runs(base, cur, GateSettings()).find("t", "c")
    assert v.unmatched_reasons == (
        "generation settings of 't' differ: baseline [{'max_new_tokens': 5}], this run [{'max_new_tokens': 8}]",)
    cur["tasks"][0]["generation"] = [{"max_new_tokens": 5}]
    assert compare_runs(base, cur, GateSettings()).find("t", "c").unmatched_reasons == ()
    del cur["tasks"][0]["generation"]
    assert compare_runs(base, cur, GateSettings()).find("t", "c").unmatched_reasons == ()


def test_qualities_are_the_means_on_the_shared_cases():
    base = make_report({"m": {"t": [1.0, 1.0, 0.0, 0.0]}}, {"m": 2.0})
    cur = make_report({"c": {"t": [1.0, 0.0, 0.0, 0.0]}}, {"c": 1.0})
    v = compare_runs(base, cur, GateSettings()).find("t", "c")
    assert (v.quality, v.incumbent_quality, v.cost_ratio) == (0.25, 0.5, pytest.approx(0.5))
    assert "than m" in v.reason and v.incumbent == "m"


def test_error_messages_list_every_task_and_say_none_when_there_is_none():
    base = make_report({"m": {"s": BASE[:2], "t": BASE[:3]}}, ids={"s": ["a", "b"], "t": ["a", "b", "c"]})
    cur = make_report({"c": {"u": BASE[:2], "v": BASE[:2]}}, ids={"u": ["x", "y"], "v": ["x", "y"]})
    with pytest.raises(DataError, match="^" + re.escape(
            "no case of this run matches the baseline run (incumbent m): this run has 4 case(s) of task(s) u, v, "
            "the baseline 5 of s, t: nothing to compare") + "$"):
        compare_runs(base, cur, GateSettings())
    # A run whose report lists no task and a baseline incumbent without cases.
    bare = dict(cur, tasks=[])
    named = dict(base, candidates=base["candidates"] + [{"name": "idle"}])
    with pytest.raises(DataError, match="^" + re.escape(
            "no case of this run matches the baseline run (incumbent idle): this run has 2 case(s) of task(s) none, "
            "the baseline 0 of none: nothing to compare") + "$"):
        compare_runs(named, dict(bare, cases=bare["cases"][:2]), GateSettings(), "idle")
    empty = dict(make_report({"c": {"t": BASE}}), cases=[])
    with pytest.raises(DataError, match="^this run recorded no case: nothing to compare with the baseline$"):
        compare_runs(base, empty, GateSettings())
    two = make_report({"good": {"t": BASE}, "bad": {"t": BASE}})
    with pytest.raises(SpecError, match=re.escape("(it has: good, bad)") + "$"):
        resolve_incumbent(two, "x")


def test_a_task_without_a_direction_is_higher_is_better_and_a_bad_suite_block_is_ignored():
    base = make_report({"m": {"t": BASE}})
    cur = make_report({"c": {"t": [0.0] * len(BASE)}})
    for report in (base, cur):
        del report["tasks"][0]["higher_is_better"]
    v = compare_runs(base, cur, GateSettings()).find("t", "c")
    assert v.higher_is_better is True and v.verdict == "FAIL"
    base["suite"], cur["suite"] = "v1", ["v2"]
    assert not any("fingerprint" in n for n in compare_runs(base, cur, GateSettings()).notes)
