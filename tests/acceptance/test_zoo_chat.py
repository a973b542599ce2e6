"""zoo:small-chat: zoo:small's trained weights, unchanged, with a chat template on its tokenizer."""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")

import pytest_llmselect.zoo as zoo  # noqa: E402
from pytest_llmselect.candidates import parse_spec  # noqa: E402


@pytest.mark.slow
def test_chat_variant_reuses_the_weights_and_adds_a_template():
    from transformers import AutoTokenizer

    chat, base = zoo.zoo_path("small-chat"), zoo.zoo_path("small")
    assert chat != base
    for name in ("model.safetensors", "config.json"):
        assert (chat / name).read_bytes() == (base / name).read_bytes()
    record = zoo.read_build_record(chat)
    assert record["derived_from"] == "small" and record["base_recipe_hash"] == zoo.recipe_hash("small")
    tok, base_tok = AutoTokenizer.from_pretrained(chat), AutoTokenizer.from_pretrained(base)
    assert base_tok.chat_template is None  # the recipe's own model is left as it was
    turns = [{"role": "system", "content": "add"}, {"role": "user", "content": "3+4="},
             {"role": "assistant", "content": "7"}, {"role": "user", "content": "5+5="}]
    rendered = tok.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)
    assert rendered == "add\n3+4=7\n5+5="
    assert tok.apply_chat_template(turns[1:2], tokenize=False, add_generation_prompt=True) == "3+4="
    assert parse_spec("zoo:small-chat").source == "small-chat"
