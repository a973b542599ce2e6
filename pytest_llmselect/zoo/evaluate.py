"""Held-out scores of a causal LM on the zoo's task families.

Works on any ``(model, tokenizer)`` pair loaded the generic way, so it measures
what a user of ``AutoModelForCausalLM.from_pretrained`` gets: greedy
``model.generate`` with left padding for the generation tasks, summed
log-probabilities for the multiple-choice task. Recorded in each model's
``recipe.json`` at build time; the plugin's own backends and metrics are what
suites use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch

from pytest_llmselect.zoo.tasks import ANSWER_END, ChoiceCase, GenerationCase, eval_cases, token_f1

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


@torch.no_grad()
def greedy_generate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = 32,
    batch_size: int = 128,
) -> list[str]:
    """Greedy continuations, each cut at the first ``ANSWER_END``."""
    tokenizer.padding_side = "left"
    outputs: list[str] = []
    for i in range(0, len(prompts), batch_size):
        enc = tokenizer(list(prompts[i : i + batch_size]), return_tensors="pt", padding=True)
        out = model.generate(
            **enc,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        new = out[:, enc["input_ids"].shape[1] :]
        for text in tokenizer.batch_decode(new, skip_special_tokens=True):
            outputs.append(text.split(ANSWER_END, 1)[0])
    return outputs


@torch.no_grad()
def continuation_logprobs(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    pairs: Sequence[tuple[str, str]],
    *,
    batch_size: int = 256,
) -> list[float]:
    """Summed log-probability of each continuation after its context.

    Right padding, so every sequence keeps the positions it has when run alone."""
    results: list[float] = []
    for i in range(0, len(pairs), batch_size):
        chunk = pairs[i : i + batch_size]
        ctx_ids = [tokenizer(c, add_special_tokens=False)["input_ids"] for c, _ in chunk]
        cont_ids = [tokenizer(x, add_special_tokens=False)["input_ids"] for _, x in chunk]
        width = max(len(a) + len(b) for a, b in zip(ctx_ids, cont_ids))
        ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, (a, b) in enumerate(zip(ctx_ids, cont_ids)):
            ids[row, : len(a) + len(b)] = torch.tensor(a + b)
            mask[row, : len(a) + len(b)] = 1
        logprobs = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
        for row, (a, b) in enumerate(zip(ctx_ids, cont_ids)):
            # Token t is predicted at position t-1.
            positions = torch.arange(len(a) - 1, len(a) + len(b) - 1)
            results.append(float(logprobs[row, positions, torch.tensor(b)].sum()))
    return results


def score_generation(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, family: str) -> float:
    cases: list[GenerationCase] = eval_cases(family)  # type: ignore[assignment]
    max_new = max(len(tokenizer(c.answer)["input_ids"]) for c in cases) + 2
    preds = greedy_generate(model, tokenizer, [c.prompt for c in cases], max_new_tokens=max_new)
    if family == "addition":
        return sum(p.strip() == c.answer for p, c in zip(preds, cases)) / len(cases)
    return sum(token_f1(p, c.answer) for p, c in zip(preds, cases)) / len(cases)


def score_choice(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, family: str) -> float:
    cases: list[ChoiceCase] = eval_cases(family)  # type: ignore[assignment]
    pairs = [(c.context, choice) for c in cases for choice in c.choices]
    flat = continuation_logprobs(model, tokenizer, pairs)
    correct, k = 0, 0
    for case in cases:
        scores = flat[k : k + len(case.choices)]
        k += len(case.choices)
        correct += max(range(len(scores)), key=scores.__getitem__) == case.answer
    return correct / len(cases)


def heldout_scores(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> dict[str, float]:
    """addition: exact match; largest: log-likelihood accuracy; multiples: mean token F1."""
    model.eval()
    return {
        "addition": score_generation(model, tokenizer, "addition"),
        "largest": score_choice(model, tokenizer, "largest"),
        "multiples": score_generation(model, tokenizer, "multiples"),
    }
