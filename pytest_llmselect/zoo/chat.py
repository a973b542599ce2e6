"""Chat variants of zoo models: the same trained weights, a tokenizer with a chat template.

``zoo:small-chat`` is ``zoo:small`` byte for byte (weights and config are copied from the
cached build, never retrained), with a chat template set on its saved tokenizer, so chat
messages work through ``apply_chat_template`` locally and through ``transformers serve``'s
chat completions. The template renders turns the way the zoo models were trained to read:
a system turn is a line of its own, a user turn is the raw prompt, an earlier assistant
turn is its answer and a newline; the generation prompt adds nothing, because the model
answers right after the prompt. So ``[{"role": "user", "content": "12+34="}]`` reaches the
model as ``"12+34="``, exactly the raw prompt.

Cached like the recipes: the directory name carries a hash of the base model's recipe hash
and the template, so a changed base or template gets a new directory.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'system' -%}{{ message['content'] }}{{ '\\n' }}"
    "{%- elif message['role'] == 'user' -%}{{ message['content'] }}"
    "{%- else -%}{{ message['content'] }}{{ '\\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
)

#: chat variant -> the zoo model whose weights it reuses
CHAT_MODELS: dict[str, str] = {"small-chat": "small"}
CHAT_NAMES: tuple[str, ...] = tuple(CHAT_MODELS)


def chat_hash(name: str) -> str:
    from pytest_llmselect.zoo.recipes import recipe_hash

    base = CHAT_MODELS[name]
    blob = json.dumps({"base": base, "base_hash": recipe_hash(base), "template": CHAT_TEMPLATE}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def derive(base: Path, out: Path, name: str, record_file: str) -> None:
    from transformers import AutoTokenizer

    for item in base.iterdir():
        if item.is_file() and item.name != record_file:
            shutil.copyfile(item, out / item.name)  # weights and config unchanged, byte for byte
    tokenizer = AutoTokenizer.from_pretrained(base)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(out)
    record = json.loads((base / record_file).read_text(encoding="utf-8"))
    record.update({"name": name, "derived_from": CHAT_MODELS[name], "base_recipe_hash": record.get("recipe_hash"),
                   "recipe_hash": chat_hash(name), "chat_template": CHAT_TEMPLATE})
    (out / record_file).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    for item in out.iterdir():
        item.chmod(0o644)
