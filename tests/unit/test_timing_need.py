"""Which groups need more timing rounds (timing_need.groups_to_retime): only those whose cost
can change a pick or its verdict."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_llmselect.timing_need import TimingNeed, groups_to_retime


def row(name: str, cost: float, loss: float, half: float = 0.0, alpha: float = 1.0, lo: float | None = None) -> dict:
    out = {"candidate": name, "n": 10, "cost": cost, "cost_lo": cost - half, "cost_hi": cost + half,
           "loss": loss, "objective": cost + alpha * loss}
    if lo is not None:
        out["comparison"] = {"lo": lo}
    return out


def block(name: str, rows: list[dict], selected: str, excluded: dict | None = None) -> dict:
    return {"name": name, "results": rows, "selection": {"selected": selected, "excluded": excluded or {}}}


def test_a_rival_within_the_cost_interval_of_the_leader_is_timed_again_with_the_leader():
    rows = [row("a", 1.0, 0.2, half=0.3), row("b", 1.2, 0.2, half=0.3), row("c", 1.0, 0.9, half=0.3, lo=0.5)]
    got = groups_to_retime([block("t", rows, "a")], None, {("t", "a"), ("t", "b"), ("t", "c")})
    assert [(n.task, n.candidate) for n in got] == [("t", "a"), ("t", "b")]
    reasons = {n.candidate: n.reason for n in got}
    assert reasons["a"] == "task 't': the pick; cost could hand the pick to b"
    assert reasons["b"] == "task 't': cost could make it the pick over a"


def test_a_rival_far_behind_on_quality_is_not_timed_again_nor_is_the_leader():
    rows = [row("a", 1.0, 0.2, half=0.3), row("b", 0.5, 2.0, half=0.1, lo=1.0)]
    assert groups_to_retime([block("t", rows, "a")], None, {("t", "a"), ("t", "b")}) == []


def test_a_verdict_within_the_cost_interval_marks_the_rival():
    # b cannot overtake a (gap 0.5 > h), but its comparison's lower end (0.1) is within h of 0.
    rows = [row("a", 1.0, 0.2, half=0.3), row("b", 1.0, 0.7, half=0.3, lo=0.1)]
    got = groups_to_retime([block("t", rows, "a")], None, {("t", "a"), ("t", "b")})
    assert {n.candidate: n.reason for n in got} == {
        "a": "task 't': the pick; cost could change the verdict against b",
        "b": "task 't': cost could change whether a's pick is clear"}


def test_exact_costs_decide_nothing_and_excluded_or_unretimable_groups_stay():
    rows = [row("a", 1.0, 0.2), row("b", 1.1, 0.2, lo=0.05), row("c", 1.0, 0.2, half=5.0)]
    # b: exact costs on both sides, gap 0.1 > 0; c is excluded (below min_quality, say)
    assert groups_to_retime([block("t", rows, "a", {"c": "below min_quality"})], None, {("t", "a"), ("t", "b")}) == []
    tied = [row("a", 1.0, 0.2, half=0.3), row("b", 1.0, 0.2, half=0.3)]
    assert [n.candidate for n in groups_to_retime([block("t", tied, "a")], None, {("t", "b")})] == ["b"]


def test_the_overall_pick_marks_the_groups_of_both_in_every_weighted_task():
    tasks = [block("t1", [row("a", 1.0, 0.2, half=0.05), row("b", 2.0, 0.1, half=0.05)], "a"),
             block("t2", [row("a", 1.0, 0.1, half=0.05), row("b", 0.5, 1.0, half=0.05)], "a"),
             block("t3", [row("a", 1.0, 0.1), row("b", 1.0, 0.9)], "a")]
    overall = {"weights": {"t1": 1.0, "t2": 1.0, "t3": 0.0},
               "results": [row("a", 1.0, 0.3, half=0.1), row("b", 1.1, 0.25, half=0.1)],
               "selection": {"selected": "a", "excluded": {}}}
    everything = {(t, c) for t in ("t1", "t2", "t3") for c in ("a", "b")}
    assert groups_to_retime(tasks, None, everything) == []
    got = groups_to_retime(tasks, overall, everything)
    assert [(n.task, n.candidate) for n in got] == [("t1", "a"), ("t1", "b"), ("t2", "a"), ("t2", "b")]
    assert all(n.reason.startswith("overall: ") for n in got)


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
anything = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.text(max_size=3))


@st.composite
def tasks(draw):
    names = ["a", "b", "c", "d"][:draw(st.integers(1, 4))]
    out = []
    for t in range(draw(st.integers(1, 3))):
        rows = []
        for n in names:
            cost, loss = draw(st.floats(0, 100)), draw(st.floats(0, 1))
            rows.append({"candidate": n, "n": draw(st.integers(0, 5)), "cost": cost, "loss": loss,
                         "cost_lo": cost - draw(st.floats(0, 50)), "cost_hi": cost + draw(st.floats(0, 50)),
                         "objective": cost + loss * draw(st.sampled_from([0.0, 1.0, 10.0])),
                         "comparison": {"lo": draw(finite)}})
        out.append(block(f"t{t}", rows, draw(st.sampled_from(names)),
                         {n: "x" for n in draw(st.lists(st.sampled_from(names), max_size=2))}))
    return out


@settings(max_examples=200, deadline=None)
@given(tasks())
def test_needs_are_within_what_may_be_retimed_each_once_and_widening_intervals_only_adds(blocks):
    everything = {(b["name"], r["candidate"]) for b in blocks for r in b["results"]}
    got = groups_to_retime(blocks, None, everything)
    keys = [(n.task, n.candidate) for n in got]
    assert len(keys) == len(set(keys)) and set(keys) <= everything
    assert all(isinstance(n, TimingNeed) and n.reason for n in got)
    for b in blocks:  # a task with any need includes its leader; an excluded candidate never
        marked = {c for t, c in keys if t == b["name"]}
        if marked:
            assert b["selection"]["selected"] in marked
        assert not marked & (set(b["selection"]["excluded"]) - {b["selection"]["selected"]})
    wider = [{**b, "results": [{**r, "cost_lo": r["cost_lo"] - 1.0, "cost_hi": r["cost_hi"] + 1.0}
                               for r in b["results"]]} for b in blocks]
    assert set(keys) <= {(n.task, n.candidate) for n in groups_to_retime(wider, None, everything)}
    assert groups_to_retime(blocks, None, set()) == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["candidate", "n", "cost", "cost_lo", "cost_hi", "objective",
                                                 "comparison"]), anything), max_size=4), anything)
def test_malformed_rows_never_raise(rows, selected):
    got = groups_to_retime([{"name": "t", "results": rows, "selection": {"selected": selected}}],
                           {"results": rows, "selection": {"selected": selected}, "weights": {"t": selected}},
                           {("t", r.get("candidate")) for r in rows if isinstance(r.get("candidate"), str)})
    assert all(n.task == "t" and any(r.get("candidate") == n.candidate for r in rows) for n in got)
