"""Seeded sampling for the transformers backend, one random stream per request.

``model.generate(do_sample=True)`` draws every row of a batch from torch's one global
generator, so a sample depends on which other requests share its batch, on the batch size
and on the order the batches ran: the same (case, sample) would give another text under
another ``--llm-batch-size`` or ``-n``. Here each row has its own ``torch.Generator`` seeded
from its request's seed and drawn once per step, so its text depends only on its prompt, its
settings and its seed.

The processor samples itself (Gumbel-max over the temperature-scaled logits restricted to the
top-p nucleus) and leaves only the chosen token finite; ``generate`` then runs greedy
(``do_sample=False``) and picks it. Rows with temperature 0 are left untouched: greedy.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["SeededSampler", "wants_sampling"]

_TINY = 1e-20


def wants_sampling(requests: Sequence[object]) -> bool:
    return any(float(getattr(r, "temperature", 0.0) or 0.0) > 0.0 for r in requests)


class SeededSampler:
    """A logits processor (``transformers.LogitsProcessor`` protocol) sampling row ``i`` with
    ``temperatures[i]``, ``top_ps[i]`` from a generator seeded with ``seeds[i]``."""

    def __init__(self, seeds: Sequence[int], temperatures: Sequence[float], top_ps: Sequence[float]) -> None:
        if not len(seeds) == len(temperatures) == len(top_ps):
            raise ValueError("SeededSampler: one seed, temperature and top_p per row")
        self.temperatures = [float(t) for t in temperatures]
        self.top_ps = [float(p) for p in top_ps]
        self.generators = []
        for seed in seeds:
            gen = torch.Generator(device="cpu")
            gen.manual_seed(int(seed))
            self.generators.append(gen)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        out = scores.clone()
        for row, temperature in enumerate(self.temperatures):
            if temperature <= 0.0:
                continue
            logits = scores[row].detach().float().cpu() / temperature
            logprobs = torch.log_softmax(logits, dim=-1)
            top_p = self.top_ps[row]
            if top_p < 1.0:
                sorted_lp, order = torch.sort(logprobs, descending=True)
                before = torch.cumsum(sorted_lp.exp(), dim=-1) - sorted_lp.exp()  # mass above each token
                drop = order[before >= top_p]  # the nucleus: the fewest top tokens reaching top_p
                logprobs[drop] = -torch.inf
            uniform = torch.rand(logprobs.shape[0], generator=self.generators[row]).clamp_(min=_TINY)
            choice = int(torch.argmax(logprobs - torch.log(-torch.log(uniform))))
            out[row] = -torch.inf
            out[row, choice] = 0.0
        return out
