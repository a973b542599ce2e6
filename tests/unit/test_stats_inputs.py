"""Bad input to the statistics functions: one clear line naming the function, the argument,
what it must be and what it got (``fn: `arg` must be ..., got VALUE (TYPE)``).

Every check of every public function, with the whole message matched: a message that names
the wrong argument or function, or loses the value, is a fault a user pays for.
"""

from __future__ import annotations

import re
from typing import Any, Callable

import pytest

from pytest_llmselect.errors import SpecError
from pytest_llmselect.stats import (
    bca_interval,
    bootstrap_interval,
    cases_needed,
    cluster_interval,
    estimate,
    holm,
    minimum_detectable_difference,
    normal_quantile,
    paired_compare,
    t_interval,
    t_quantile,
    wilson_interval,
)

PROB = "a number strictly between 0 and 1"
SEQ = "a sequence of finite numbers"

CASES: list[tuple[str, Callable[[], Any], str]] = [
    ("normal_quantile p", lambda: normal_quantile(1.0), f"normal_quantile: `p` must be {PROB}, got 1.0 (float)"),
    ("normal_quantile bool", lambda: normal_quantile(True), f"normal_quantile: `p` must be {PROB}, got True (bool)"),
    ("normal_quantile str", lambda: normal_quantile("0.5"), f"normal_quantile: `p` must be {PROB}, got '0.5' (str)"),
    ("t_quantile p", lambda: t_quantile(0.0, 3), f"t_quantile: `p` must be {PROB}, got 0.0 (float)"),
    ("t_quantile df", lambda: t_quantile(0.5, 0), "t_quantile: `df` must be an int >= 1, got 0 (int)"),
    ("t_quantile df float", lambda: t_quantile(0.5, 2.0), "t_quantile: `df` must be an int >= 1, got 2.0 (float)"),
    ("t_interval values", lambda: t_interval([]), f"t_interval: `values` must be non-empty, got [] (list)"),
    ("t_interval values str", lambda: t_interval("12"), f"t_interval: `values` must be {SEQ}, got '12' (str)"),
    ("t_interval value", lambda: t_interval([0.1, float("inf")]),
     "t_interval: `values[1]` must be a finite number, got inf (float)"),
    ("t_interval level", lambda: t_interval([0.1, 0.2], 1.5), f"t_interval: `level` must be {PROB}, got 1.5 (float)"),
    ("bca_interval values", lambda: bca_interval([]), "bca_interval: `values` must be non-empty, got [] (list)"),
    ("bca_interval level", lambda: bca_interval([0.1, 0.2], 0), f"bca_interval: `level` must be {PROB}, got 0 (int)"),
    ("wilson n", lambda: wilson_interval(0, -1), "wilson_interval: `n` must be an int >= 0, got -1 (int)"),
    ("wilson successes", lambda: wilson_interval(-1, 3), "wilson_interval: `successes` must be an int >= 0, got -1 (int)"),
    ("wilson successes > n", lambda: wilson_interval(4, 3), "wilson_interval: `successes` must be <= n (3), got 4 (int)"),
    ("wilson level", lambda: wilson_interval(1, 3, 1.0), f"wilson_interval: `level` must be {PROB}, got 1.0 (float)"),
    ("bootstrap values", lambda: bootstrap_interval([]), "bootstrap_interval: `values` must be non-empty, got [] (list)"),
    ("bootstrap level", lambda: bootstrap_interval([0.1], -0.5),
     f"bootstrap_interval: `level` must be {PROB}, got -0.5 (float)"),
    ("bootstrap n_resamples", lambda: bootstrap_interval([0.1], n_resamples=0),
     "bootstrap_interval: `n_resamples` must be an int >= 1, got 0 (int)"),
    ("bootstrap seed", lambda: bootstrap_interval([0.1], seed=-1),
     "bootstrap_interval: `seed` must be an int >= 0, got -1 (int)"),
    ("cluster values", lambda: cluster_interval([0.1, "x"], [1, 2]),
     "cluster_interval: `values[1]` must be a finite number, got 'x' (str)"),
    ("cluster values not a sequence", lambda: cluster_interval(3, [1]),
     f"cluster_interval: `values` must be {SEQ}, got 3 (int)"),
    ("cluster groups not a sequence", lambda: cluster_interval([0.1, 0.2], 7),
     "cluster_interval: `groups` must be a sequence of hashable labels, got 7 (int)"),
    ("cluster groups str", lambda: cluster_interval([0.1, 0.2], "ab"),
     "cluster_interval: `groups` must be a sequence of hashable labels, got 'ab' (str)"),
    ("cluster groups length", lambda: cluster_interval([0.1, 0.2], ["a"]),
     "cluster_interval: `groups` must be as long as `values` (2), got ['a'] (list)"),
    ("cluster groups unhashable", lambda: cluster_interval([0.1, 0.2], [[1], [2]]),
     "cluster_interval: `groups` must be hashable labels, got [[1], [2]] (list)"),
    ("cluster one group", lambda: cluster_interval([0.1, 0.2], ["a", "a"]),
     "cluster_interval: `groups` must be at least 2 distinct labels, got ['a', 'a'] (list)"),
    ("cluster empty", lambda: cluster_interval([], []),
     "cluster_interval: `groups` must be at least 2 distinct labels, got [] (list)"),
    ("cluster level", lambda: cluster_interval([0.1, 0.2], [1, 2], 2.0),
     f"cluster_interval: `level` must be {PROB}, got 2.0 (float)"),
    ("estimate values", lambda: estimate([]), "estimate: `values` must be non-empty, got [] (list)"),
    ("estimate level", lambda: estimate([0.5], level=1.0), f"estimate: `level` must be {PROB}, got 1.0 (float)"),
    ("estimate groups", lambda: estimate([0.1, 0.2], groups=["a"]),
     "estimate: `groups` must be as long as `values` (2), got ['a'] (list)"),
    ("estimate groups str", lambda: estimate([0.1, 0.2], groups="ab"),
     "estimate: `groups` must be a sequence of hashable labels, got 'ab' (str)"),
    ("paired a", lambda: paired_compare([], []), "paired_compare: `a` must be non-empty, got [] (list)"),
    ("paired b value", lambda: paired_compare([1.0], [None]),
     "paired_compare: `b[0]` must be a finite number, got None (NoneType)"),
    ("paired lengths", lambda: paired_compare([1, 0], [1]),
     "paired_compare: `b` must be as long as `a` (2 values), has 1, got [1] (list)"),
    ("paired b empty", lambda: paired_compare([1.0], []),
     "paired_compare: `b` must be as long as `a` (1 values), has 0, got [] (list)"),
    ("paired a str", lambda: paired_compare("10", [1.0, 0.0]),
     f"paired_compare: `a` must be {SEQ}, got '10' (str)"),
    ("paired level", lambda: paired_compare([1.0], [0.0], level=1), f"paired_compare: `level` must be {PROB}, got 1 (int)"),
    ("paired seed", lambda: paired_compare([1.0], [0.0], seed=1.5),
     "paired_compare: `seed` must be an int >= 0, got 1.5 (float)"),
    ("paired n_resamples", lambda: paired_compare([1.0], [0.0], n_resamples=0),
     "paired_compare: `n_resamples` must be an int >= 1, got 0 (int)"),
    ("holm not a sequence", lambda: holm(0.5), f"holm: `p_values` must be {SEQ}, got 0.5 (float)"),
    ("holm p", lambda: holm([0.2, -0.1]), "holm: `p_values[1]` must be in [0, 1], got -0.1 (float)"),
    ("mde a", lambda: minimum_detectable_difference([], []),
     "minimum_detectable_difference: `a` must be non-empty, got [] (list)"),
    ("mde lengths", lambda: minimum_detectable_difference([1.0], [1.0, 0.0]),
     "minimum_detectable_difference: `b` must be as long as `a` (1 values), has 2, got [1.0, 0.0] (list)"),
    ("mde alpha", lambda: minimum_detectable_difference([1.0], [0.0], alpha=1),
     f"minimum_detectable_difference: `alpha` must be {PROB}, got 1 (int)"),
    ("mde power", lambda: minimum_detectable_difference([1.0], [0.0], power=0.0),
     f"minimum_detectable_difference: `power` must be {PROB}, got 0.0 (float)"),
    ("cases_needed sd_diff", lambda: cases_needed(-1.0, 0.1),
     "cases_needed: `sd_diff` must be a finite number >= 0, got -1.0 (float)"),
    ("cases_needed sd_diff str", lambda: cases_needed("x", 0.1),
     "cases_needed: `sd_diff` must be a finite number >= 0, got 'x' (str)"),
    ("cases_needed sd_diff bool", lambda: cases_needed(True, 0.1),
     "cases_needed: `sd_diff` must be a finite number >= 0, got True (bool)"),
    ("cases_needed sd_diff nan", lambda: cases_needed(float("nan"), 0.1),
     "cases_needed: `sd_diff` must be a finite number >= 0, got nan (float)"),
    ("cases_needed margin", lambda: cases_needed(1.0, 0.0),
     "cases_needed: `margin` must be a finite number > 0, got 0.0 (float)"),
    ("cases_needed alpha", lambda: cases_needed(1.0, 0.1, alpha=0.0),
     f"cases_needed: `alpha` must be {PROB}, got 0.0 (float)"),
    ("cases_needed power", lambda: cases_needed(1.0, 0.1, power=1.0),
     f"cases_needed: `power` must be {PROB}, got 1.0 (float)"),
]


@pytest.mark.parametrize(("call", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_names_function_argument_and_value(call: Callable[[], Any], message: str) -> None:
    with pytest.raises(SpecError, match="^" + re.escape(message) + "$"):
        call()
