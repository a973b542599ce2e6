"""Batched results equal one-at-a-time results on the real zoo models, through our backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_llmselect import load_jsonl
from pytest_llmselect.backends.base import GenerateRequest, LoglikelihoodRequest
from pytest_llmselect.fixtures import choice_requests

pytestmark = pytest.mark.slow
DATA = Path(__file__).resolve().parents[2] / "suites" / "data"


@pytest.mark.parametrize("name", ["tiny", "base"])
def test_batched_equals_single_on_zoo(name):
    from pytest_llmselect.backends.hf import HFBackend
    from pytest_llmselect.zoo import zoo_path

    backend = HFBackend.load(str(zoo_path(name)), device="cpu")
    try:
        gen = [GenerateRequest(c["prompt"], max_new_tokens=40, stop=("\n",))
               for c in load_jsonl(DATA / "multiples.jsonl")[:24]]
        gen += [GenerateRequest(c["prompt"], max_new_tokens=5, stop=("\n",))
                for c in load_jsonl(DATA / "addition.jsonl")[:24]]
        batched = backend.generate(gen, batch_size=16)
        single = [backend.generate([r], batch_size=1)[0] for r in gen]
        assert [r.text for r in batched] == [r.text for r in single]
        assert [r.output_tokens for r in batched] == [r.output_tokens for r in single]
        ll: list[LoglikelihoodRequest] = []
        for c in load_jsonl(DATA / "largest.jsonl")[:12]:
            ll += choice_requests(c["context"], c["choices"])
        lb = backend.loglikelihood(ll, batch_size=16)
        ls = [backend.loglikelihood([r], batch_size=1)[0] for r in ll]
        for a, b in zip(lb, ls):
            assert a.logprob == pytest.approx(b.logprob, abs=1e-4)
            assert (a.num_tokens, a.is_greedy) == (b.num_tokens, b.is_greedy)
    finally:
        backend.close()
