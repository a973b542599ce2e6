"""Fixtures for end-to-end runs of the plugin through pytester."""

from __future__ import annotations

import pytest

from smollm2_fixtures import smollm2, smollm2_dir, smollm2_file  # noqa: F401 - session fixtures
from suitekit import ADDITION_SUITE, LARGEST_SUITE, head_jsonl


@pytest.fixture
def suite(pytester: pytest.Pytester):
    """Write a small two-task suite into the pytester directory; returns pytester."""

    def make(n_addition: int = 12, n_largest: int = 8, addition_extra: str = "") -> pytest.Pytester:
        data = pytester.mkdir("data")
        (data / "addition.jsonl").write_text(head_jsonl("addition.jsonl", n_addition), encoding="utf-8")
        (data / "largest.jsonl").write_text(head_jsonl("largest.jsonl", n_largest), encoding="utf-8")
        pytester.makepyfile(test_addition=ADDITION_SUITE.replace("{extra}", addition_extra),
                            test_largest=LARGEST_SUITE)
        return pytester

    return make
