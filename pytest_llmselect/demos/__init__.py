"""Few-shot demonstrations chosen per case: pools, strategies, and configurations.

A task declares a :class:`DemoPool`; a run names configurations with
``--llm-demos=random:4,knn:4`` and each (candidate, configuration) becomes one
candidate of the selection (``zoo:base+knn:4``). Importing this package is cheap: the
embedding model and bm25s load only when a strategy needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from pytest_llmselect.demos.config import DemoConfig, missing_extra, parse_demo_config, parse_demo_configs
from pytest_llmselect.demos.pool import DemoPool, Example, Shots, normalize_input

if TYPE_CHECKING:
    from pytest_llmselect.demos.embed import Embedder

__all__ = ["DemoConfig", "DemoPool", "Example", "Shots", "choose_shots", "clip_k", "missing_extra", "normalize_input",
           "parse_demo_config", "parse_demo_configs"]


def clip_k(config: DemoConfig, pool: DemoPool) -> tuple[int, str | None]:
    """The k a pool can give (the one place k is clipped), and why it is less than the
    configuration's, in words for the record and the report (None when it is not)."""
    k = min(config.k, len(pool))
    if k == config.k:
        return k, None
    return k, f"{config.name} gave at most {k} demonstration(s): the pool {pool.origin} has {len(pool)} example(s)"


def choose_shots(pool: DemoPool, config: DemoConfig, cases: Sequence[tuple[str | None, str]], *,
                 seed: int = 0, embedder: Embedder | None = None) -> list[Shots]:
    """The demonstrations of each case, all cases at once.

    ``cases``: ``(case_id or None, query text)`` per case. A case never receives a pool
    example with its own id or with the same normalised input (:func:`normalize_input`).
    Returns one :class:`Shots` per case, in the configuration's order policy."""
    from pytest_llmselect.demos.strategies import make_strategy, ordered

    if config.strategy == "none" or config.k == 0:
        return [Shots(config.name, (), "", ()) for _ in cases]
    strategy = make_strategy(config, pool, seed=seed, embedder=embedder)
    queries = [q for _, q in cases]
    keys = [cid if cid is not None else q for cid, q in cases]
    exclude = [pool.excluded(q, cid) for cid, q in cases]
    order = config.effective_order(pool.order)
    k, clipped = clip_k(config, pool)
    out = []
    for choice in strategy.choose(queries, keys, k, exclude):
        indices = ordered(choice, order)
        examples = tuple(pool.examples[i] for i in indices)
        out.append(Shots(config.name, tuple(ex.id for ex in examples), pool.render(indices),
                         tuple(ex.fields for ex in examples), clipped))
    return out
