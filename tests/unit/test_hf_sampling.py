"""Seeded per-row sampling with a real (tiny, random) transformers model."""

from __future__ import annotations

import math
from collections import Counter

import pytest

torch = pytest.importorskip("torch")

from pytest_llmselect.backends.hf_sampling import SeededSampler  # noqa: E402


def test_each_row_draws_from_its_own_stream() -> None:
    scores = torch.log_softmax(torch.randn(3, 50, generator=torch.Generator().manual_seed(0)), dim=-1)
    alone = SeededSampler([11], [1.0], [1.0])(None, scores[1:2])
    together = SeededSampler([7, 11, 13], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0])(None, scores)
    assert torch.equal(alone[0], together[1])
    assert int(torch.isfinite(together[1]).sum()) == 1


def test_greedy_rows_are_untouched() -> None:
    scores = torch.randn(2, 10)
    out = SeededSampler([1, 2], [0.0, 1.0], [1.0, 1.0])(None, scores)
    assert torch.equal(out[0], scores[0])


def test_draws_follow_the_tempered_distribution() -> None:
    logits = torch.tensor([[0.0, 1.0, 2.0]])
    counts: Counter[int] = Counter()
    for seed in range(3000):
        out = SeededSampler([seed], [2.0], [1.0])(None, logits)
        counts[int(torch.argmax(out))] += 1
    expected = torch.softmax(logits[0] / 2.0, dim=-1).tolist()
    for token, p in enumerate(expected):
        se = math.sqrt(p * (1 - p) / 3000)
        assert abs(counts[token] / 3000 - p) < 4 * se, (token, counts, expected)


def test_top_p_keeps_only_the_nucleus() -> None:
    # probabilities 0.6, 0.3, 0.1: top_p 0.8 keeps tokens 0 and 1 (0.6 < 0.8 <= 0.9)
    logits = torch.log(torch.tensor([[0.6, 0.3, 0.1]]))
    seen = {int(torch.argmax(SeededSampler([s], [1.0], [0.8])(None, logits))) for s in range(400)}
    assert seen == {0, 1}
    # top_p below the top token's mass keeps the top token only
    assert {int(torch.argmax(SeededSampler([s], [1.0], [0.5])(None, logits))) for s in range(50)} == {0}
