"""The racing rule (race.py): the confidence sequence's coverage at every look, the drop rule
at its boundaries, the stage plan, and the option's parsing."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmselect.errors import SpecError
from pytest_llmselect.race import RaceSetting, confidence_sequence, decide_stage, parse_race, stage_sizes


def test_sequence_covers_the_mean_at_every_look() -> None:
    rng = random.Random(7)
    misses, runs = 0, 200
    for _ in range(runs):
        p = rng.choice([0.02, 0.3, 0.5, 0.97])
        xs = [float(rng.random() < p) for _ in range(256)]
        misses += any(not (lo <= p <= hi) for lo, hi in (confidence_sequence(xs[:t], 0.1) for t in (8, 16, 32, 64, 128, 256)))
    assert misses / runs <= 0.1


def test_sequence_narrows_with_more_cases() -> None:
    rng = random.Random(1)
    xs = [float(rng.random() < 0.5) for _ in range(400)]
    widths = [hi - lo for lo, hi in (confidence_sequence(xs[:t], 0.05) for t in (10, 100, 400))]
    assert widths[0] > widths[1] > widths[2] and widths[2] < 0.25


@pytest.mark.parametrize("a", [0.0, 1.0, -0.1])
def test_sequence_refuses_a_bad_error_rate(a: float) -> None:
    with pytest.raises(SpecError, match="`a` must lie in"):
        confidence_sequence([0.5], a)


def _losses(acc: dict[str, float], n: int, seed: int) -> dict[str, dict[str, float]]:
    rng = random.Random(seed)
    return {name: {str(i): float(rng.random() >= p) for i in range(n)} for name, p in acc.items()}


def test_a_clearly_worse_candidate_is_dropped_and_the_leader_named() -> None:
    losses = _losses({"good": 0.95, "bad": 0.05}, 64, 3)
    leader, drops = decide_stage([str(i) for i in range(64)], losses, alpha_s=1.0, costs={}, cost_se={},
                                 level=0.95, n_candidates=2)
    assert leader == "good" and [d.candidate for d in drops] == ["bad"]
    assert drops[0].reason == "worse than good" and drops[0].cases == 64 and drops[0].lower > 0


def test_identical_candidates_are_never_dropped() -> None:
    same = _losses({"x": 0.6}, 200, 5)["x"]
    leader, drops = decide_stage([str(i) for i in range(200)], {"a": same, "b": dict(same)}, alpha_s=1.0,
                                 costs={"a": 0.0, "b": 0.0}, cost_se={}, level=0.95, n_candidates=2)
    assert leader == "a" and drops == []  # a tie keeps the first in order as leader


def test_a_cheaper_candidate_of_equal_quality_drops_the_dearer_one_only_when_cost_is_sure() -> None:
    same = _losses({"x": 0.6}, 100, 5)["x"]
    order = [str(i) for i in range(100)]
    common = dict(order=order, losses={"cheap": same, "dear": dict(same)}, alpha_s=1.0, level=0.95, n_candidates=2)
    _, sure = decide_stage(costs={"cheap": 1.0, "dear": 2.0}, cost_se={"cheap": 0.01, "dear": 0.01}, **common)
    _, unsure = decide_stage(costs={"cheap": 1.0, "dear": 2.0}, cost_se={"cheap": 0.5, "dear": 0.5}, **common)
    assert [d.candidate for d in sure] == ["dear"] and unsure == []


def test_groups_are_one_observation_each() -> None:
    # 60 cases in 3 groups of 20: three observations cannot drop anyone; 60 independent ones do.
    losses = {"good": {str(i): 0.0 for i in range(60)}, "bad": {str(i): 1.0 for i in range(60)}}
    order = [str(i) for i in range(60)]
    kw = dict(alpha_s=1.0, costs={}, cost_se={}, level=0.95, n_candidates=2)
    _, alone = decide_stage(order, losses, **kw)
    _, grouped = decide_stage(order, losses, groups={str(i): i // 20 for i in range(60)}, **kw)
    assert [d.candidate for d in alone] == ["bad"] and grouped == []


def test_only_an_eligible_candidate_leads() -> None:
    losses = _losses({"best": 0.99, "ok": 0.6, "bad": 0.01}, 80, 2)
    leader, drops = decide_stage([str(i) for i in range(80)], losses, alpha_s=1.0, costs={}, cost_se={},
                                 level=0.95, n_candidates=3, eligible=["ok", "bad"])
    assert leader == "ok" and "best" not in {d.candidate for d in drops}


def test_min_quality_drops_a_candidate_surely_below_it() -> None:
    losses = _losses({"good": 0.9, "poor": 0.1}, 80, 4)
    _, drops = decide_stage([str(i) for i in range(80)], losses, alpha_s=1.0, costs={}, cost_se={},
                            level=0.95, n_candidates=2, max_loss=0.5)
    assert {d.candidate: d.reason for d in drops}["poor"] == "below min_quality"


def test_true_best_is_rarely_dropped_at_a_near_tie() -> None:
    dropped, runs = 0, 200
    for seed in range(runs):
        losses = _losses({"best": 0.62, "near": 0.6, "far": 0.3}, 200, seed)
        order = [str(i) for i in range(200)]
        alive = dict(losses)
        for k in (16, 48, 112, 200):
            _, drops = decide_stage(order[:k], alive, alpha_s=1.0, costs={}, cost_se={}, level=0.9, n_candidates=3)
            for d in drops:
                alive.pop(d.candidate)
        dropped += "best" not in alive
    assert dropped / runs <= 0.1


def test_stage_sizes_add_up() -> None:
    assert stage_sizes(200, RaceSetting(True)) == [16, 32, 64, 88]
    assert stage_sizes(25, RaceSetting(True, 10)) == [10, 10, 5]
    assert stage_sizes(7, RaceSetting(False)) == [7]
    assert stage_sizes(0, RaceSetting(True)) == []


@given(st.integers(min_value=0, max_value=5000), st.one_of(st.none(), st.integers(min_value=2, max_value=300)))
def test_stage_sizes_always_cover_every_case(n: int, block: int | None) -> None:
    sizes = stage_sizes(n, RaceSetting(True, block))
    assert sum(sizes) == n and all(s > 0 for s in sizes)


@pytest.mark.parametrize("text,expected", [("off", RaceSetting(False)), ("", RaceSetting(False)),
                                           ("ON", RaceSetting(True)), ("true", RaceSetting(True)),
                                           ("24", RaceSetting(True, 24)), (" 8 ", RaceSetting(True, 8))])
def test_parse_race(text: str, expected: RaceSetting) -> None:
    assert parse_race(text) == expected


@given(st.text(max_size=12))
def test_parse_race_is_one_clear_line_or_a_setting(text: str) -> None:
    try:
        setting = parse_race(text)
    except SpecError as exc:
        assert "--llm-race" in str(exc) and repr(text) in str(exc) and "\n" not in str(exc).replace(repr(text), "")
    else:
        assert setting.block is None or setting.block >= 2
