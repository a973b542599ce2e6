"""Held-out scores of ``zoo:lookup``, recorded in its ``recipe.json`` at build time.

``matched_last``: four demonstrations, the last a pool variant of the query's word (what
nearest-neighbour selection with "most similar last" provides); ``matched_first``: the
same four with the match first; ``random``: four random pool examples. Exact match of
the greedy label. The plugin's strategies are what suites use; these fixed prompts only
show at build time that the model copies a matching label and nothing else.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from pytest_llmselect.zoo.evaluate import greedy_generate
from pytest_llmselect.zoo.lookup import TEMPLATE, lookup_eval, lookup_pool, lookup_prompt

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

LOOKUP_METRICS = {"matched_last": "exact_match", "matched_first": "exact_match", "random": "exact_match"}


def lookup_heldout(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> dict[str, float]:
    pool, cases = lookup_pool(), lookup_eval()
    by_word: dict[str, list[dict[str, object]]] = {}
    for row in pool:
        by_word.setdefault(str(row["input"]).split()[0], []).append(row)
    rng = random.Random(0)
    prompts: dict[str, list[str]] = {k: [] for k in LOOKUP_METRICS}
    for case in cases:
        word = case["input"].split()[0]
        others = [r for r in rng.sample(pool, 8) if str(r["input"]).split()[0] != word][:3]
        match = by_word[word][:1]
        for mode, demos in (("matched_last", others + match), ("matched_first", match + others),
                            ("random", rng.sample(pool, 4))):
            text = "".join(TEMPLATE.format(**d) for d in demos)
            prompts[mode].append(lookup_prompt(text, case["input"]))
    scores = {}
    for mode, texts in prompts.items():
        outputs = greedy_generate(model, tokenizer, texts, max_new_tokens=2)
        scores[mode] = sum(o.strip() == c["answer"] for o, c in zip(outputs, cases)) / len(cases)
    return scores
