from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import beta as beta_fn

from pytest_llmselect.errors import SpecError
from pytest_llmselect.sampling import (
    Reduction,
    majority_vote,
    parse_reducer,
    pass_at_k,
    pass_at_k_cases,
    reduce_samples,
    sample_seed,
)
from pytest_llmselect.intervals import cluster_interval, estimate


def brute_pass_at_k(n: int, c: int, k: int) -> float:
    """The share of all k-subsets of n samples (c of them passing) that hold a pass."""
    outcomes = [1] * c + [0] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(1 for s in subsets if any(outcomes[i] for i in s)) / len(subsets)


class TestPassAtK:
    @pytest.mark.parametrize("n", range(1, 11))
    def test_equals_brute_force_enumeration(self, n: int) -> None:
        for c in range(n + 1):
            for k in range(1, n + 1):
                assert pass_at_k(n, c, k) == pytest.approx(brute_pass_at_k(n, c, k), abs=1e-12), (n, c, k)

    def test_pass_at_1_is_the_pass_rate(self) -> None:
        assert pass_at_k(10, 3, 1) == pytest.approx(0.3)

    @given(st.integers(1, 200), st.data())
    def test_monotone_in_k_and_c(self, n: int, data: st.DataObject) -> None:
        c = data.draw(st.integers(0, n))
        k = data.draw(st.integers(1, n))
        v = pass_at_k(n, c, k)
        assert 0.0 <= v <= 1.0
        if k < n:
            assert pass_at_k(n, c, k + 1) >= v - 1e-12
        if c < n:
            assert pass_at_k(n, c + 1, k) >= v - 1e-12

    def test_large_n_stays_finite(self) -> None:
        # C(10000, 50) overflows a float; the product form does not.
        assert pass_at_k(10_000, 10, 50) == pytest.approx(1 - math.comb(9_990, 50) / math.comb(10_000, 50))

    @pytest.mark.parametrize(("n", "c", "k", "arg"), [(3, 4, 1, "`c`"), (3, 1, 4, "`k`"), (0, 0, 1, "`n`"),
                                                       (3, 1, 0, "`k`"), (3, True, 1, "`c`")])
    def test_bad_input_names_the_argument(self, n: int, c: int, k: int, arg: str) -> None:
        with pytest.raises(SpecError, match=f"pass_at_k: {arg}"):
            pass_at_k(n, c, k)

    def test_from_scores_uses_the_threshold(self) -> None:
        assert pass_at_k_cases([0.0, 0.4, 0.9], 1, threshold=0.5) == pytest.approx(1 / 3)
        assert pass_at_k_cases([0.0, 1.0, 1.0], 2) == pytest.approx(1.0)


class TestSeeds:
    def test_depend_on_seed_case_and_index_only(self) -> None:
        s = sample_seed(0, "case-1", 0)
        assert s == sample_seed(0, "case-1", 0)
        others = {sample_seed(1, "case-1", 0), sample_seed(0, "case-2", 0), sample_seed(0, "case-1", 1)}
        assert s not in others and len(others) == 3
        assert 0 <= s < 2**63

    def test_pinned_value(self) -> None:
        # A change of the derivation changes every sampled output of every stored run: pin it.
        assert sample_seed(0, "a", 0) == int.from_bytes(
            __import__("hashlib").sha256(b"0\0a\x000").digest()[:8], "big") >> 1

    def test_bad_case_id(self) -> None:
        with pytest.raises(SpecError, match="`case_id`"):
            sample_seed(0, 3, 0)  # type: ignore[arg-type]


class TestReducers:
    def test_parse(self) -> None:
        assert parse_reducer("mean") == Reduction("mean")
        assert parse_reducer("Pass@5") == Reduction("pass", 5)
        assert parse_reducer("pass@5").name == "pass@5"
        for bad in ("pass@0", "pass@", "median", 3):
            with pytest.raises(SpecError, match="reducer: must be one of mean, majority, pass@K"):
                parse_reducer(bad)

    def test_majority_over_answers_then_scores(self) -> None:
        assert majority_vote([1.0, 0.0, 0.0, 1.0, 1.0]) == 1.0
        # two wrong answers that differ lose to two identical right ones... and a tie goes to the first seen
        assert majority_vote([0.0, 1.0, 0.0, 1.0], outputs=["x", "y", "z", "y"]) == 1.0
        assert majority_vote([0.0, 1.0], outputs=["x", "y"]) == 0.0
        with pytest.raises(SpecError, match="one answer per sample"):
            majority_vote([0.0, 1.0], outputs=["x"])

    def test_reduce(self) -> None:
        assert reduce_samples([0.0, 1.0, 1.0, 0.5]) == pytest.approx(0.625)
        assert reduce_samples([0.0, 1.0, 0.0], "pass@2") == pytest.approx(brute_pass_at_k(3, 1, 2))
        with pytest.raises(SpecError, match="pass@5 needs at least 5 samples per case, got 3"):
            reduce_samples([0.0, 1.0, 0.0], "pass@5")

    def test_mean_over_cases_is_the_cluster_robust_interval(self) -> None:
        rng = np.random.default_rng(3)
        samples = rng.integers(0, 2, size=(12, 5)).astype(float)
        per_case = [reduce_samples(list(row)) for row in samples]
        est = estimate(per_case)
        flat = samples.ravel().tolist()
        groups = [i for i in range(12) for _ in range(5)]
        lo, hi = cluster_interval(flat, groups)
        assert est.method == "t"
        assert (est.lo, est.hi) == pytest.approx((lo, hi))


def _coverage(reducer: str, truth: float, *, a: float, b: float, cases: int, samples: int, sims: int,
              clustered: bool, seed: int) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(sims):
        p = rng.beta(a, b, size=cases)
        draws = (rng.random((cases, samples)) < p[:, None]).astype(float)
        if clustered:
            est = estimate([reduce_samples(list(row), reducer) for row in draws])
        else:  # every sample as if an independent case
            est = estimate(draws.ravel().tolist())
        hits += est.lo <= truth <= est.hi
    return hits / sims


class TestIntervalCoverage:
    """Cases differ in difficulty (p ~ Beta(0.5, 0.5): intra-case correlation 0.5), each sampled 10 times.
    800 simulated experiments per check: a coverage's Monte Carlo SE is about 0.8 points."""

    def test_mean_with_clustered_samples_covers(self) -> None:
        cov = _coverage("mean", 0.5, a=0.5, b=0.5, cases=30, samples=10, sims=800, clustered=True, seed=1)
        assert 0.925 <= cov <= 0.975, cov

    def test_treating_samples_as_independent_does_not(self) -> None:
        # The design effect 1 + (10 - 1) * 0.5 = 5.5 shrinks the naive interval by sqrt(5.5).
        cov = _coverage("mean", 0.5, a=0.5, b=0.5, cases=30, samples=10, sims=800, clustered=False, seed=1)
        assert cov < 0.8, cov

    def test_pass_at_k_covers_its_population_value(self) -> None:
        a, b, k = 0.5, 1.5, 5
        truth = 1.0 - beta_fn(a, b + k) / beta_fn(a, b)  # E[1 - (1 - p)^k] for p ~ Beta(a, b)
        cov = _coverage(f"pass@{k}", truth, a=a, b=b, cases=40, samples=10, sims=800, clustered=True, seed=2)
        assert 0.925 <= cov <= 0.975, cov


class TestTaskMarker:
    def test_sampling_and_judge_arguments(self) -> None:
        from pytest_llmselect.tasks import task_from_marker

        t = task_from_marker((), {"samples": 5, "temperature": 0.8, "reducer": "pass@5", "judge": "zoo:base"}, "x")
        assert (t.samples, t.temperature, t.top_p, t.reducer, t.judge) == (5, 0.8, None, "pass@5", "zoo:base")
        assert t.to_dict()["sampling"] == {"samples": 5, "temperature": 0.8, "top_p": None, "reducer": "pass@5"}

    @pytest.mark.parametrize(("kwargs", "match"), [
        ({"samples": 0}, "samples must be an int >= 1, got 0"),
        ({"temperature": -1}, "temperature must be a number >= 0"),
        ({"samples": 3, "reducer": "pass@5"}, "reducer pass@5 needs samples >= 5, got 3"),
        ({"judge_kinds": "pairwise"}, "judge_kinds must name some of rubric, correctness"),
        ({"judge": 3}, "judge must be a candidate spec"),
    ])
    def test_bad_arguments_name_the_task(self, kwargs: dict, match: str) -> None:
        from pytest_llmselect.tasks import task_from_marker

        with pytest.raises(SpecError, match=f"llm_task 'x': {match}"):
            task_from_marker((), kwargs, "x")
