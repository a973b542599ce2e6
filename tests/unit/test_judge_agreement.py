from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr
from statsmodels.stats.inter_rater import cohens_kappa

from pytest_llmselect.errors import SpecError
from pytest_llmselect.judge.agreement import agreement, cohen_kappa, spearman


def test_kappa_matches_statsmodels_and_a_hand_count() -> None:
    judge = [1, 1, 0, 0, 1, 0, 1, 1, 0, 1]
    ref = [1, 0, 0, 0, 1, 0, 1, 1, 1, 1]
    got = agreement([float(x) for x in judge], [float(x) for x in ref])
    # observed 8/10; chance 0.6*0.6 + 0.4*0.4 = 0.52; kappa = 0.28 / 0.48
    assert got.method == "cohen_kappa"
    assert got.value == pytest.approx(0.28 / 0.48)
    table = np.array([[3, 1], [1, 5]])
    res = cohens_kappa(table)
    assert got.value == pytest.approx(res["kappa"])
    assert (got.lo, got.hi) == pytest.approx((res["kappa_low"], min(1.0, res["kappa_upp"])))


def test_spearman_with_fisher_interval() -> None:
    rng = np.random.default_rng(0)
    x = rng.random(40)
    y = x + rng.normal(0, 0.3, 40)
    got = agreement(list(x), list(y))
    assert got.method == "spearman"
    assert got.value == pytest.approx(spearmanr(x, y).statistic)
    assert got.lo < got.value < got.hi
    assert got.interval == "fisher_z"


def test_fisher_interval_covers() -> None:
    # Bivariate normal with rho 0.6: Spearman's population value is (6/pi) asin(rho/2).
    rng = np.random.default_rng(7)
    rho = 0.6
    truth = 6 / np.pi * np.arcsin(rho / 2)
    hits = 0
    sims = 400
    for _ in range(sims):
        z = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=50)
        a = spearman(list(z[:, 0]), list(z[:, 1]))
        hits += a.lo <= truth <= a.hi
    assert 0.92 <= hits / sims <= 0.98


def test_cases_graded_several_times_widen_the_interval() -> None:
    rng = np.random.default_rng(1)
    base = rng.random(15)
    # the same 15 cases graded for 4 candidates, nearly the same scores each time
    x = np.concatenate([base + rng.normal(0, 0.05, 15) for _ in range(4)])
    y = np.concatenate([base + rng.normal(0, 0.3, 15) for _ in range(4)])
    groups = [i for _ in range(4) for i in range(15)]
    plain = agreement(list(x), list(y))
    clustered = agreement(list(x), list(y), groups=groups)
    assert clustered.interval == "cluster_bootstrap"
    assert clustered.value == plain.value
    assert clustered.hi - clustered.lo > plain.hi - plain.lo


def test_constant_side_has_no_agreement() -> None:
    a = cohen_kappa([1.0, 1.0, 1.0], [1.0, 1.0, 1.0])
    assert a.value is None and "one label" in (a.reason or "")
    s = spearman([1.0, 2.0, 3.0], [0.5, 0.5, 0.5])
    assert s.value is None


def test_mismatched_lengths() -> None:
    with pytest.raises(SpecError, match="must pair up"):
        agreement([1.0], [1.0, 0.0])
