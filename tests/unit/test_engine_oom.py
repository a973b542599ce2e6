"""Batch splitting on out-of-memory, with a backend that fails above a size (pure logic, no model)."""

from __future__ import annotations

import pytest

from pytest_llmselect.backends.base import GenerateRequest, GenerateResult, ModelInfo
from pytest_llmselect.engine import AUTO_START, BatchSizer, Measures, run_requests
from pytest_llmselect.errors import BackendError, OutOfMemory


class Fits:
    """Generates the prompt reversed; raises OutOfMemory for batches larger than ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.calls: list[int] = []
        self.info = ModelInfo("fake", 1, "cpu", "float32")

    def generate(self, requests, batch_size=16):
        self.calls.append(len(requests))
        if len(requests) > self.limit:
            raise OutOfMemory(f"out of memory at batch size {len(requests)}")
        return [GenerateResult(r.prompt[::-1], 1, 1) for r in requests]


def _reqs(n: int) -> list[GenerateRequest]:
    return [GenerateRequest(f"p{i:03d}", 4) for i in range(n)]


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 8])
def test_split_until_it_fits_and_keep_the_smaller_size(limit):
    backend, measures, sizer = Fits(limit), Measures(), BatchSizer(8)
    out = run_requests(backend, _reqs(10), batch_size=sizer, measures=measures)
    assert {r.prompt: res.text for r, res in out.items()} == {f"p{i:03d}": f"p{i:03d}"[::-1] for i in range(10)}
    assert sizer.size <= limit and all(n <= 8 for n in backend.calls)
    assert measures.requests == 10 and measures.batches == sum(1 for n in backend.calls if n <= limit)


def test_auto_starts_large_and_finds_a_size_that_fits():
    backend, sizer = Fits(6), BatchSizer.of("auto")
    assert sizer.size == AUTO_START and sizer.auto
    run_requests(backend, _reqs(40), batch_size=sizer, measures=Measures())
    assert backend.calls[0] == 40 and sizer.size <= 6 and sizer.splits >= 1
    # Once found, every later batch uses it: no more failures.
    first_fit = next(i for i, n in enumerate(backend.calls) if n <= 6)
    assert all(n <= 6 for n in backend.calls[first_fit:])


def test_out_of_memory_at_size_one_is_one_line():
    stored = []
    with pytest.raises(BackendError, match="out of memory even at batch size 1") as info:
        run_requests(Fits(0), _reqs(3), batch_size=4, measures=Measures(),
                     on_batch=lambda b, r, s: stored.append(b))
    assert "\n" not in str(info.value) and stored == []


def test_each_finished_batch_is_handed_on():
    stored = []
    run_requests(Fits(2), _reqs(5), batch_size=4, measures=Measures(),
                 on_batch=lambda batch, results, seconds: stored.append((len(batch), len(results), seconds >= 0)))
    assert stored == [(2, 2, True), (2, 2, True), (1, 1, True)]
