"""The zoo models load and generate through the generic transformers path, and
their quality and cost are ordered as the selection demos need.

Builds the zoo into the cache on first run (about two minutes on two cores);
later runs reuse it and take seconds.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

import pytest_llmselect.zoo as zoo
from pytest_llmselect.zoo.tasks import addition_eval

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")


@lru_cache(maxsize=None)
def load(name: str) -> tuple[Any, Any]:
    path = zoo.zoo_path(name)
    model = transformers.AutoModelForCausalLM.from_pretrained(path)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    model.eval()
    return model, tokenizer


@torch.no_grad()
def generate(name: str, prompts: list[str], max_new_tokens: int = 6) -> list[str]:
    """Greedy, left-padded, batched: what a user's generic harness does with a hub model."""
    model, tok = load(name)
    enc = tok(prompts, return_tensors="pt", padding=True)
    out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
    texts = tok.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    return [t.split("\n", 1)[0] for t in texts]


@lru_cache(maxsize=None)
def addition_accuracy(name: str) -> float:
    cases = addition_eval()
    preds = generate(name, [c.prompt for c in cases])
    return sum(p == c.answer for p, c in zip(preds, cases)) / len(cases)


def num_parameters(name: str) -> int:
    return sum(p.numel() for p in load(name)[0].parameters())


@pytest.mark.slow
@pytest.mark.parametrize("name", zoo.ZOO_NAMES)
def test_model_and_tokenizer_load_offline(name: str) -> None:
    model, tok = load(name)
    assert isinstance(tok, transformers.PreTrainedTokenizerFast)
    assert tok.padding_side == "left"
    assert tok.pad_token_id is not None and tok.eos_token_id is not None
    assert tok.pad_token_id != tok.eos_token_id
    assert model.generation_config.eos_token_id == tok.eos_token_id
    assert model.generation_config.pad_token_id == tok.pad_token_id
    assert (zoo.zoo_path(name) / "model.safetensors").is_file()
    record = zoo.read_build_record(zoo.zoo_path(name))
    assert record["recipe_hash"] == zoo.recipe_hash(name)
    assert record["num_parameters"] == num_parameters(name)
    assert set(record["heldout"]) == {"addition", "largest", "multiples"}


@pytest.mark.slow
def test_second_lookup_is_free(monkeypatch: pytest.MonkeyPatch) -> None:
    path = zoo.zoo_path("tiny")
    mtime = (path / "model.safetensors").stat().st_mtime_ns

    def no_build(*args: object) -> None:
        raise AssertionError("a built model was built again")

    # Free means no build at all (checked by behaviour, not by a wall-clock threshold).
    monkeypatch.setattr(zoo, "_build_into", no_build)
    assert zoo.zoo_path("tiny") == path
    assert (path / "model.safetensors").stat().st_mtime_ns == mtime


@pytest.mark.slow
def test_left_padded_batch_matches_one_at_a_time() -> None:
    # Prompts of different lengths: the short ones are padded, so this catches
    # position ids that ignore the attention mask.
    prompts = ["3+4=", "12+34=", "99+99=", "multiples of 7 below 50:"]
    batched = generate("base", prompts, max_new_tokens=24)
    assert batched == [generate("base", [p], max_new_tokens=24)[0] for p in prompts]


def test_tokenizer_round_trips_text(tmp_path: Path) -> None:
    # Not slow: the tokenizer is saved and reloaded without training a model.
    from pytest_llmselect.zoo.train import build_tokenizer

    build_tokenizer().save_pretrained(tmp_path)
    tok = transformers.AutoTokenizer.from_pretrained(tmp_path)
    assert isinstance(tok, transformers.PreTrainedTokenizerFast)
    for text in ["12+34=46\n", "largest of 37 52 18 66: 66", "  two  spaces ", "a\nb\n\n", "~{}[]|\\"]:
        assert tok.decode(tok.encode(text)) == text
        assert len(tok.encode(text)) == len(text)  # one token per character, no specials added


@pytest.mark.slow
def test_addition_quality_rises_with_size() -> None:
    tiny, small, base = (addition_accuracy(n) for n in ("tiny", "small", "base"))
    assert tiny < small < base, (tiny, small, base)
    assert base - small >= 0.3, "base should be clearly better than small"
    assert num_parameters("tiny") < num_parameters("small") < num_parameters("base")


@pytest.mark.slow
def test_wide_costs_more_yet_is_worse_than_small() -> None:
    assert num_parameters("wide") > num_parameters("base") > num_parameters("small")
    assert addition_accuracy("wide") < addition_accuracy("small")
    record = zoo.read_build_record(zoo.zoo_path("wide"))["heldout"]
    reference = zoo.read_build_record(zoo.zoo_path("small"))["heldout"]
    assert all(record[task] < reference[task] for task in reference), (record, reference)


@pytest.mark.slow
def test_undertrained_small_is_a_regression() -> None:
    assert num_parameters("small-undertrained") == num_parameters("small")
    assert addition_accuracy("small-undertrained") < addition_accuracy("small")
    worse = zoo.read_build_record(zoo.zoo_path("small-undertrained"))["heldout"]
    reference = zoo.read_build_record(zoo.zoo_path("small"))["heldout"]
    assert all(worse[task] < reference[task] for task in reference), (worse, reference)


@pytest.mark.slow
def test_build_record_orders_every_task() -> None:
    scores = {n: zoo.read_build_record(zoo.zoo_path(n))["heldout"] for n in ("tiny", "small", "base")}
    for task in ("addition", "largest", "multiples"):
        assert scores["tiny"][task] < scores["small"][task] < scores["base"][task], (task, scores)
