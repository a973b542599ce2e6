"""Repeated sampling: per-(case, sample) seeds, pass@k and the reducers that turn a case's
samples into the one score the case records.

Pure: no pytest, no torch, no I/O.

A case sampled N times is one cluster: its samples share the case's difficulty, so they are
not N independent observations. Every reducer here maps the N samples to one per-case value
and the task's interval is computed over cases (``stats.estimate`` on the per-case values).
For the mean reducer with the same N for every case that is exactly the cluster-robust (CR1)
interval of the per-sample mean, ``stats.cluster_interval`` with the case as the cluster:
``se = sd(case means) / sqrt(G)`` with G - 1 degrees of freedom. The coverage is measured by
simulation in tests/unit/test_sampling.py.

pass@k is Chen et al.'s (2021, "Evaluating Large Language Models Trained on Code", eq. 1)
unbiased estimator ``1 - C(n - c, k) / C(n, k)`` from n samples of which c pass, computed as
the product ``1 - prod_{i = n-c+1}^{n} (1 - k / i)`` so it neither overflows nor loses
precision for large n.
"""

from __future__ import annotations

import hashlib
import math
import numbers
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from pytest_llmselect.errors import SpecError

__all__ = [
    "REDUCERS", "Reduction", "majority_vote", "parse_reducer", "pass_at_k", "pass_at_k_cases", "reduce_samples",
    "sample_seed",
]

#: Seeds are drawn below 2**63 so every consumer takes them (torch.Generator, numpy, a server's int64).
SEED_BITS = 63


def _describe(value: object) -> str:
    return f"{value!r} ({type(value).__name__})"


def _int(value: object, fn: str, arg: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise SpecError(f"{fn}: `{arg}` must be an int >= {minimum}, got {_describe(value)}")
    return int(value)


def sample_seed(seed: int, case_id: str, index: int) -> int:
    """The seed of sample ``index`` of case ``case_id`` under the run seed ``seed``.

    A hash of the three, so it depends on nothing else: not on which other cases share the
    batch, the batch size, the xdist worker or the order cases run in. Sample 0 of a case and
    sample 0 of another case get unrelated seeds."""
    seed = _int(seed, "sample_seed", "seed", 0)
    index = _int(index, "sample_seed", "index", 0)
    if not isinstance(case_id, str):
        raise SpecError(f"sample_seed: `case_id` must be a str, got {_describe(case_id)}")
    digest = hashlib.sha256(f"{seed}\0{case_id}\0{index}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") >> (64 - SEED_BITS)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate of pass@k from ``n`` samples of which ``c`` passed (Chen et al. 2021):
    the probability that at least one of k samples drawn without replacement from the n passes.
    Needs ``n >= k``: fewer samples than k cannot estimate it without bias."""
    n = _int(n, "pass_at_k", "n", 1)
    c = _int(c, "pass_at_k", "c", 0)
    k = _int(k, "pass_at_k", "k", 1)
    if c > n:
        raise SpecError(f"pass_at_k: `c` must be <= n ({n}), got {_describe(c)}")
    if k > n:
        raise SpecError(f"pass_at_k: `k` must be <= n ({n}) samples, got {_describe(k)}")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def _scores(samples: object, fn: str) -> list[float]:
    if isinstance(samples, (str, bytes)) or not isinstance(samples, Sequence) or not samples:
        raise SpecError(f"{fn}: `samples` must be a non-empty sequence of scores, got {_describe(samples)}")
    out = []
    for x in samples:
        if isinstance(x, bool) or not isinstance(x, numbers.Real) or math.isnan(x):
            raise SpecError(f"{fn}: every sample score must be a number, got {_describe(x)}")
        out.append(float(x))
    return out


def pass_at_k_cases(samples: Sequence[float], k: int, *, threshold: float = 1.0) -> float:
    """pass@k of one case from its sample scores; a sample passes when its score >= ``threshold``."""
    xs = _scores(samples, "pass_at_k")
    return pass_at_k(len(xs), sum(1 for x in xs if x >= threshold), k)


def majority_vote(samples: Sequence[float], outputs: Sequence[Hashable] | None = None) -> float:
    """The score of the most common answer among the samples (ties: the answer seen first).

    With ``outputs`` (one hashable answer per sample, e.g. the normalised text) the vote is
    over answers, as self-consistency (Wang et al. 2023) takes it; without them, over the
    score values."""
    xs = _scores(samples, "majority_vote")
    keys: Sequence[Hashable] = xs if outputs is None else list(outputs)
    if len(keys) != len(xs):
        raise SpecError(f"majority_vote: `outputs` must have one answer per sample ({len(xs)}), "
                        f"got {len(keys)}")
    counts = Counter(keys)
    top = max(counts.values())
    first = next(i for i, key in enumerate(keys) if counts[key] == top)
    return xs[first]


@dataclass(frozen=True)
class Reduction:
    """How a case's samples become its score: ``kind`` is "mean", "majority" or "pass"
    (``k`` set for pass@k). ``name`` is how reports and options spell it."""

    kind: str
    k: int | None = None

    @property
    def name(self) -> str:
        return f"pass@{self.k}" if self.kind == "pass" else self.kind

    def min_samples(self) -> int:
        return self.k if self.k is not None else 1


REDUCERS = ("mean", "majority", "pass@K")


def parse_reducer(value: object, *, option: str = "reducer") -> Reduction:
    """``"mean"``, ``"majority"`` or ``"pass@K"`` (K a positive int) as a :class:`Reduction`."""
    if isinstance(value, Reduction):
        return value
    if not isinstance(value, str):
        raise SpecError(f"{option}: must be one of {', '.join(REDUCERS)}, got {_describe(value)}")
    text = value.strip().lower()
    if text in ("mean", "majority"):
        return Reduction(text)
    if text.startswith("pass@"):
        digits = text[5:]
        if digits.isdigit() and int(digits) >= 1:
            return Reduction("pass", int(digits))
    raise SpecError(f"{option}: must be one of {', '.join(REDUCERS)}, got {_describe(value)}")


def reduce_samples(samples: Sequence[float], reducer: Reduction | str = "mean",
                   outputs: Sequence[Hashable] | None = None, *, threshold: float = 1.0) -> float:
    """One case's score from its sample scores under ``reducer``."""
    red = parse_reducer(reducer)
    xs = _scores(samples, "reduce_samples")
    if red.kind == "mean":
        return math.fsum(xs) / len(xs)
    if red.kind == "majority":
        return majority_vote(xs, outputs)
    assert red.k is not None
    if red.k > len(xs):
        raise SpecError(f"reduce_samples: {red.name} needs at least {red.k} samples per case, got {len(xs)}")
    return pass_at_k_cases(xs, red.k, threshold=threshold)


def sampling_summary(cases: Sequence[dict], *, level: float = 0.95) -> dict[str, object] | None:
    """pass@k for every k from 1 to the samples per case, and the mean, with intervals over
    cases, from the per-sample scores stored in each case record's ``samples`` (scored cases
    only); None when no case of ``cases`` was sampled."""
    from pytest_llmselect.intervals import estimate

    sampled = [c["samples"] for c in cases if isinstance(c.get("samples"), dict) and c["samples"].get("scores")]
    if not sampled:
        return None
    n = min(len(s["scores"]) for s in sampled)
    threshold = float(sampled[0].get("threshold", 1.0))
    out: dict[str, object] = {"samples": n, "reducer": sampled[0].get("reducer"), "threshold": threshold,
                              "cases": len(sampled)}
    for k in sorted({1, n} | ({5} if n >= 5 else set())):
        est = estimate([pass_at_k_cases(s["scores"][:n], k, threshold=threshold) for s in sampled], level=level)
        out[f"pass@{k}"] = {"value": est.mean, "lo": est.lo, "hi": est.hi, "method": est.method}
    return out


def add_sampling(rows: Sequence[dict], cases: Sequence[dict], *, level: float = 0.95) -> None:
    """Give each result row of a task whose scored cases were sampled its ``sampling`` summary."""
    for row in rows:
        mine = [c for c in cases if c.get("candidate") == row["candidate"] and c.get("status", "scored") == "scored"]
        summary = sampling_summary(mine, level=level)
        if summary is not None:
            row["sampling"] = summary


@dataclass(frozen=True)
class SamplingPlan:
    """How a task samples: ``samples`` generations per generate request, at ``temperature`` and
    ``top_p``, seeded per (case, sample) from the run seed ``seed``."""

    samples: int
    temperature: float
    top_p: float
    seed: int

    def expand(self, request: object, case_id: str) -> list[object]:
        """The sampled copies of one generate request of case ``case_id`` (other requests as they are)."""
        import dataclasses

        if type(request).__name__ != "GenerateRequest" or getattr(request, "temperature", 0.0) > 0.0:
            return [request]
        return [dataclasses.replace(request, temperature=self.temperature, top_p=self.top_p,  # type: ignore[type-var]
                                    seed=sample_seed(self.seed, case_id, i)) for i in range(self.samples)]
