"""pick_probability and Tango's statistic pinned where mutation testing found them loose
(docs/mutation-testing.md).

The reference for pick probabilities enumerates every bootstrap resample of a tiny task
(all n**n case draws, times all r**r draws of the timed rounds) and applies the documented
rules: paired case resampling, NaN losses left out of a candidate's mean (all-NaN: its
full-data mean), cost scaled by the resampled mean of the rounds, a resampled loss over
``max_loss`` not eligible, exact ties to the lower full-data cost and then the name.
The Monte Carlo shares must agree within 4 standard errors.
"""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest
from scipy import stats as sps

from pytest_llmselect.confidence import TaskData, pick_probability, tango_interval, tango_statistic
from pytest_llmselect.errors import SpecError

N = 4000  # resamples: 4 SE of a share is at most 0.032


def _draws(n: int):
    return itertools.product(range(n), repeat=n)


def exact_shares(tasks: dict[str, TaskData], alpha: float, names: list[str],
                 weights: dict[str, float] | None = None) -> dict[str, float]:
    raw = {t: 1.0 for t in tasks} if weights is None else {t: float(weights.get(t, 0.0)) for t in tasks}
    total = sum(raw.values())
    full_cost = {c: sum(raw[t] * tasks[t].costs[c] for t in tasks) for c in names}
    order = sorted(names, key=lambda c: (full_cost[c], c))
    per_task = []  # for each weighted task: list of (probability, {candidate: objective})
    for t, data in tasks.items():
        if raw[t] <= 0:
            continue
        n = len(data.losses[names[0]])
        rounds = {c: list((data.rounds or {}).get(c) or []) for c in names}
        outcomes = []
        case_draws = list(_draws(n))
        round_draws = {c: (list(_draws(len(r))) if len(r) >= 2 else [None]) for c, r in rounds.items()}
        for idx in case_draws:
            loss = {}
            for c in names:
                vals = [data.losses[c][i] for i in idx if not math.isnan(data.losses[c][i])]
                full = [x for x in data.losses[c] if not math.isnan(x)]
                loss[c] = sum(vals) / len(vals) if vals else sum(full) / len(full)
            for combo in itertools.product(*(round_draws[c] for c in names)):
                cost = {}
                for c, r_idx in zip(names, combo):
                    r = rounds[c]
                    cost[c] = data.costs[c] * (sum(r[i] for i in r_idx) / len(r) / (sum(r) / len(r))
                                               if r_idx is not None else 1.0)
                prob = 1.0 / len(case_draws) / math.prod(len(round_draws[c]) for c in names)
                obj = {c: cost[c] + alpha * loss[c] for c in names}
                if data.max_loss is not None:
                    obj = {c: (math.inf if loss[c] > data.max_loss + 1e-12 else o) for c, o in obj.items()}
                outcomes.append((prob, obj))
        per_task.append((raw[t] / total, outcomes))
    shares = dict.fromkeys(names, 0.0)
    for combo in itertools.product(*(outs for _, outs in per_task)):
        prob = math.prod(p for p, _ in combo)
        obj = {c: sum(w * o[c] for (w, _), (_, o) in zip(per_task, combo)) for c in names}
        best = min(obj[c] for c in order)
        if math.isfinite(best):
            shares[next(c for c in order if obj[c] == best)] += prob
    return shares


def assert_close(got: dict[str, float], want: dict[str, float]) -> None:
    for c in want:
        se = math.sqrt(max(want[c] * (1 - want[c]), 1e-4) / N)
        assert abs(got[c] - want[c]) <= 4 * se, (c, got, want)


def test_every_case_can_be_drawn() -> None:
    # a wins case 0, b case 1, equal costs: a wins a resample unless it drew case 1 twice
    # (a tie goes to a by name): 3/4.
    data = TaskData(losses={"a": [0.0, 1.0], "b": [1.0, 0.0]}, costs={"a": 1.0, "b": 1.0})
    got = pick_probability({"t": data}, 1.0, candidates=["a", "b"], n_resamples=N, seed=1).shares
    assert exact_shares({"t": data}, 1.0, ["a", "b"]) == {"a": 0.75, "b": 0.25}
    assert_close(got, {"a": 0.75, "b": 0.25})


def test_a_missing_case_is_left_out_of_the_resampled_mean() -> None:
    # a lacks case 2 (NaN): its full-data mean 0.5 loses to b's 0.4, its resamples often win.
    data = TaskData(losses={"a": [0.0, 1.0, math.nan], "b": [0.4, 0.4, 0.4]}, costs={"a": 0.0, "b": 0.0})
    want = exact_shares({"t": data}, 1.0, ["a", "b"])
    assert 0.3 < want["a"] < 0.7
    assert_close(pick_probability({"t": data}, 1.0, candidates=["a", "b"], n_resamples=N, seed=2).shares, want)


def test_timed_rounds_scale_the_cost() -> None:
    # Equal losses: only cost decides; a's time varies from round to round, b's is fixed.
    # a's rounds have mean 2: its cost 2.0 is scaled by (resampled mean) / 2, so it is 1 + k
    # where k of the 3 drawn rounds are the slow one; it loses to b's 3.5 only when k = 3.
    data = TaskData(losses={"a": [0.5, 0.5], "b": [0.5, 0.5]}, costs={"a": 2.0, "b": 3.5},
                    rounds={"a": [1.0, 1.0, 4.0], "b": [2.0]})
    want = exact_shares({"t": data}, 1.0, ["a", "b"])
    assert want == pytest.approx({"a": 26 / 27, "b": 1 / 27})
    assert_close(pick_probability({"t": data}, 1.0, candidates=["a", "b"], n_resamples=N, seed=3).shares, want)


def test_cost_standard_error_is_a_normal_draw_floored_at_zero() -> None:
    # Equal losses; a costs 0.2 +- 0.5 (normal, floored at 0), b 0.3: P(a) = Phi((0.3 - 0.2) / 0.5).
    data = TaskData(losses={"a": [0.5, 0.5], "b": [0.5, 0.5]}, costs={"a": 0.2, "b": 0.3}, cost_se={"a": 0.5})
    got = pick_probability({"t": data}, 1.0, candidates=["a", "b"], n_resamples=N, seed=4).shares
    p = float(sps.norm.cdf(0.2))
    assert_close(got, {"a": p, "b": 1 - p})


def test_a_loss_exactly_at_the_limit_is_eligible() -> None:
    data = TaskData(losses={"a": [0.5, 0.5], "b": [0.0, 0.0]}, costs={"a": 0.0, "b": 5.0}, max_loss=0.5)
    assert pick_probability({"t": data}, 1.0, candidates=["a", "b"], n_resamples=200).shares == {"a": 1.0, "b": 0.0}


def test_exact_ties_go_to_the_lower_full_data_cost_then_the_name() -> None:
    # Objectives tie in every resample (constant losses): b is cheaper, so b, though a sorts first.
    data = TaskData(losses={"a": [0.0, 0.0], "b": [0.5, 0.5]}, costs={"a": 1.0, "b": 0.5})
    assert pick_probability({"t": data}, 1.0, candidates=["a", "b"], n_resamples=100).shares == {"a": 0.0, "b": 1.0}


def test_several_tasks_are_weighted_and_a_zero_weight_task_is_ignored() -> None:
    t1 = TaskData(losses={"a": [0.0, 1.0], "b": [0.5, 0.5]}, costs={"a": 0.0, "b": 0.0})
    t2 = TaskData(losses={"a": [0.0, 0.5], "b": [1.0, 0.0]}, costs={"a": 0.1, "b": 0.0})
    tasks = {"t1": t1, "t2": t2}
    for weights in (None, {"t1": 1.0, "t2": 3.0}):
        want = exact_shares(tasks, 1.0, ["a", "b"], weights)
        got = pick_probability(tasks, 1.0, candidates=["a", "b"], weights=weights, n_resamples=N, seed=5).shares
        assert_close(got, want)
    # A task with weight 0 (here: absent from the weights) changes nothing, even one that
    # would exclude a candidate.
    t3 = TaskData(losses={"a": [1.0, 1.0], "b": [0.0, 0.0]}, costs={"a": 0.0, "b": 0.0}, max_loss=0.5)
    alone = pick_probability({"t1": t1}, 1.0, candidates=["a", "b"], n_resamples=500, seed=6).shares
    got = pick_probability({"t1": t1, "t3": t3}, 1.0, candidates=["a", "b"], weights={"t1": 2.0},
                           n_resamples=500, seed=6).shares
    assert got == alone and sum(got.values()) == pytest.approx(1.0)


def test_result_reports_its_resamples_and_seed_and_defaults() -> None:
    data = TaskData(losses={"a": [0.0, 1.0, 0.0], "b": [0.5, 0.5, 0.0]}, costs={"a": 0.0, "b": 0.01})
    res = pick_probability({"t": data}, 1.0, candidates=["a", "b"], n_resamples=7, seed=9)
    assert (res.n_resamples, res.seed) == (7, 9)
    assert pick_probability({"t": data}, 1.0, candidates=["a", "b"]) == pick_probability(
        {"t": data}, 1.0, candidates=["a", "b"], n_resamples=2000, seed=0)
    one = pick_probability({"t": data}, 1.0, candidates=["a", "b"], n_resamples=1)
    assert sorted(one.shares.values()) == [0.0, 1.0]


@pytest.mark.parametrize(("call", "message"), [
    (lambda d: pick_probability({"t": d}, 1.0, candidates=[]), "pick_probability: `candidates` must not be empty"),
    (lambda d: pick_probability({"t": d}, 1.0, candidates=["a"], n_resamples=0),
     "pick_probability: `n_resamples` must be >= 1, got 0"),
    (lambda d: pick_probability({"t": d}, 1.0, candidates=["a", "b"]),
     "pick_probability: task 't' has no losses or cost for ['b']"),
    (lambda d: pick_probability({"t": d}, 1.0, candidates=["a", "c"]),
     "pick_probability: task 't' has no losses or cost for ['c']"),
    (lambda d: pick_probability({"t": d}, 1.0, candidates=["a"], weights={"t": 0.0}),
     "pick_probability: weights must not all be 0, got {'t': 0.0}"),
])
def test_bad_input_is_one_clear_line(call, message: str) -> None:
    data = TaskData(losses={"a": [0.0], "c": [1.0]}, costs={"a": 0.0, "b": 1.0})
    with pytest.raises(SpecError, match="^" + re.escape(message) + "$"):
        call(data)


# -------------------------------------------------------------------------- Tango's statistic


def test_tango_interval_matches_the_published_cavo_example() -> None:
    # Cavo et al. (2012), [[59, 6], [16, 80]]: Tango's score interval -0.1240 to -0.0054
    # (Fagerland, Lydersen & Laake 2017, chapter 8, as the R package contingencytables gives it).
    lo, hi = tango_interval(6, 16, 161, float(sps.norm.isf(0.025)))
    assert (lo, hi) == pytest.approx((-0.1240, -0.0054), abs=5e-5)


def test_tango_statistic_holds_the_variance_outside_minus_one_to_one() -> None:
    # Documented: outside [-1, 1] the variance is held at its end value, so the statistic is
    # the numerator b - c - n*delta over the end value's standard deviation.
    b, c, n, extra = 6.0, 16.0, 161.0, 0.01
    for end, beyond in ((1.0, 1.5), (-1.0, -1.5)):
        sd_end = (b - c - n * end) / tango_statistic(end, b, c, n, extra)
        assert tango_statistic(beyond, b, c, n, extra) == pytest.approx((b - c - n * beyond) / sd_end, rel=1e-12)


def test_tango_statistic_where_the_variance_vanishes() -> None:
    # delta = 1 with not every pair discordant one way: impossible, an infinite statistic;
    # with every pair (a=1, b=0) it is exactly what was seen: 0.
    assert tango_statistic(1.0, 2, 1, 6) == -math.inf
    assert tango_statistic(-1.0, 1, 2, 6) == math.inf
    assert tango_statistic(1.0, 5, 0, 5) == 0.0


def test_tango_interval_with_an_added_variance_is_the_inverted_test() -> None:
    b, c, n, z, extra = 9.0, 3.0, 40.0, 1.96, 0.004
    lo, hi = tango_interval(b, c, n, z, extra, 1.0)
    assert tango_statistic(lo + 1e-7, b, c, n, extra, 1.0) < z < tango_statistic(lo - 1e-7, b, c, n, extra, 1.0)
    assert tango_statistic(hi - 1e-7, b, c, n, extra, 1.0) > -z > tango_statistic(hi + 1e-7, b, c, n, extra, 1.0)


def test_tango_statistic_with_no_discordant_pair_off_zero() -> None:
    # b = c = 0: the restricted MLE of p01 is 0 (the quadratic's other root, -delta, is
    # negative), so the variance is n * delta * (1 - delta) and the statistic
    # -n * delta / sqrt(n * delta * (1 - delta)) (Tango 1998, eq. for the score test).
    n, delta = 10.0, 0.01
    assert tango_statistic(delta, 0.0, 0.0, n) == pytest.approx(-n * delta / math.sqrt(n * delta * (1 - delta)),
                                                               rel=1e-12)


def test_all_zero_timing_rounds_leave_the_cost_as_it_is() -> None:
    # Rounds that took no model time (every request served from the cache) carry no timing
    # noise: the cost is not rescaled (0 / 0), so the candidate with the lower objective wins
    # every resample. a: 0 + 1 * 1.0; b: 0.5 + 1 * 0.0.
    data = TaskData(losses={"a": [1.0, 1.0], "b": [0.0, 0.0]}, costs={"a": 0.0, "b": 0.5},
                    rounds={"a": [0.0, 0.0, 0.0], "b": [1.0, 1.0]})
    got = pick_probability({"t": data}, 1.0, candidates=["a", "b"], n_resamples=50).shares
    assert got == {"a": 0.0, "b": 1.0}


def test_losses_and_rounds_as_other_real_numbers_give_the_float_result() -> None:
    # A metric may return Fraction or Decimal; they are real numbers and must count as their
    # float values, in the comparison and in the resampling.
    from decimal import Decimal
    from fractions import Fraction

    from pytest_llmselect.confidence import objective_compare

    fa, fb = [0.25, 0.5, 1.0, 0.0], [0.5, 0.75, 0.5, 0.25]
    want = objective_compare(fa, fb, alpha=2.0, cost_a=0.1, cost_b=0.2)
    for conv in (Fraction, Decimal):
        assert objective_compare([conv(x) for x in fa], fb, alpha=2.0, cost_a=0.1, cost_b=0.2) == want
        assert objective_compare(fa, [conv(x) for x in fb], alpha=2.0, cost_a=0.1, cost_b=0.2) == want
    floats = TaskData(losses={"a": fa, "b": fb}, costs={"a": 0.3, "b": 0.2}, rounds={"a": [1.0, 2.0, 4.0]})
    fracs = TaskData(losses={"a": [Fraction(x) for x in fa], "b": [Fraction(x) for x in fb]},
                     costs={"a": 0.3, "b": 0.2}, rounds={"a": [Fraction(1), Fraction(2), Fraction(4)]})
    want_shares = pick_probability({"t": floats}, 1.0, candidates=["a", "b"], n_resamples=200, seed=5).shares
    assert 0.0 < want_shares["a"] < 1.0
    assert pick_probability({"t": fracs}, 1.0, candidates=["a", "b"], n_resamples=200, seed=5).shares == want_shares
