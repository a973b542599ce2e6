"""Seeded per-row sampling with a real (tiny, random) transformers model."""

from __future__ import annotations

import math
from collections import Counter

import pytest

torch = pytest.importorskip("torch")

from pytest_llmselect.backends.hf.sampling import SeededSampler  # noqa: E402


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


def test_backend_samples_are_the_same_at_any_batch_size(tmp_path) -> None:
    from pytest_llmselect.backends.base import GenerateRequest
    from pytest_llmselect.backends.hf import HFBackend
    from pytest_llmselect.sampling import sample_seed
    from tests.helpers_tiny_model import build_tiny_model

    backend = HFBackend.load(str(build_tiny_model(tmp_path / "m", initializer_range=0.05)))
    prompts = ["ab", "hello there", "x", "12+34=", "the cat", "zz top"]
    reqs = [GenerateRequest(p, 12, temperature=1.0, top_p=0.95, seed=sample_seed(0, p, i))
            for p in prompts for i in range(3)]
    greedy = GenerateRequest("hello there", 12)
    mixed = reqs + [greedy]
    one_by_one = [backend.generate([r], batch_size=1)[0].text for r in mixed]
    for size in (4, len(mixed)):
        texts = []
        for start in range(0, len(mixed), size):
            texts += [r.text for r in backend.generate(mixed[start:start + size], batch_size=size)]
        assert texts == one_by_one, size
    assert one_by_one[-1] == backend.generate([greedy], batch_size=1)[0].text
    assert len(set(one_by_one[3:6])) > 1  # three seeds of one prompt: not one text
    again = [r.text for r in backend.generate(reqs, batch_size=len(reqs))]
    assert again == one_by_one[:-1]
