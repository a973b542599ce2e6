"""Confidence intervals and paired comparisons for per-case scores: the public names of
``intervals``, ``paired_tests``, ``power``, ``descriptive`` and ``distributions``, kept
importable from here for code written before the split. New code imports from the module
that owns the name.
"""

from __future__ import annotations

from pytest_llmselect.descriptive import sample_sd
from pytest_llmselect.distributions import normal_quantile, t_quantile
from pytest_llmselect.intervals import (
    Estimate,
    bca_interval,
    bootstrap_interval,
    cluster_interval,
    estimate,
    quantile_interval,
    t_interval,
    wilson_interval,
)
from pytest_llmselect.paired_tests import PairedComparison, holm, paired_compare
from pytest_llmselect.power import cases_needed, minimum_detectable_difference

__all__ = [
    "Estimate", "PairedComparison", "bootstrap_interval", "cases_needed", "cluster_interval",
    "estimate", "holm", "minimum_detectable_difference", "normal_quantile", "paired_compare",
    "bca_interval", "quantile_interval", "sample_sd", "t_interval", "t_quantile", "wilson_interval",
]
