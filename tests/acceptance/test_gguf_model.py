"""The real model: SmolLM2-135M-Instruct converted from its Q4_1 GGUF file, loaded once for
the session (``smollm2`` fixtures). What the conversion keeps (weights, tokenizer, chat
template), chat through its own template, and batch-independent greedy outputs on a Llama
architecture with a real BPE vocabulary."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pytest_llmselect.backends.base import GenerateRequest, LoglikelihoodRequest
from pytest_llmselect.backends.gguf import RECORD_FILE
from pytest_llmselect.metrics import mentions

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.slow


def test_the_converted_folder_names_its_source_and_quantisation(smollm2_file: Path, smollm2_dir: Path, smollm2):
    record = json.loads((smollm2_dir / RECORD_FILE).read_text(encoding="utf-8"))
    assert record["sha256"] == hashlib.sha256(smollm2_file.read_bytes()).hexdigest()
    assert record["quantization"]["type"] == "Q4_1" and record["architecture"] == "llama"
    assert {"model.safetensors", "tokenizer.json", "config.json"} <= {p.name for p in smollm2_dir.iterdir()}
    info = smollm2.info
    assert info.num_parameters == 134_515_008 and info.dtype == "float32"
    assert info.extra["source"] == str(smollm2_file) and info.extra["quantization"]["type"] == "Q4_1"
    assert smollm2.max_positions == 8192  # the real context window, from the GGUF metadata


def test_the_converted_model_computes_what_the_gguf_file_does(smollm2_file: Path, smollm2):
    """Loaded straight from the GGUF file (tens of seconds), the model gives the same logits."""
    from transformers import AutoModelForCausalLM

    direct = AutoModelForCausalLM.from_pretrained(str(smollm2_file.parent), gguf_file=smollm2_file.name,
                                                  dtype=torch.float32)
    ids = smollm2._tokenizer("The capital of France is", return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        assert torch.equal(direct(ids).logits, smollm2._model(ids).logits)


def test_chat_goes_through_smollm2s_own_template(smollm2):
    messages = [{"role": "user", "content": "What is the capital of France? Answer with the city only."}]
    from pytest_llmselect.backends.hf.prompts import encode_prompts

    tokenizer = smollm2._tokenizer
    (ids,) = encode_prompts(tokenizer, [GenerateRequest.chat(messages)], smollm2.info.name)
    text = tokenizer.decode(ids)
    assert text == tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text.endswith("<|im_start|>user\nWhat is the capital of France? Answer with the city only.<|im_end|>\n"
                         "<|im_start|>assistant\n")
    (out,) = smollm2.generate([GenerateRequest.chat(messages, max_new_tokens=12)])
    assert mentions(out.text, "Paris") == 1.0, out.text
    assert "<|im_end|>" not in out.text and out.output_tokens <= 12


REQUESTS = [
    GenerateRequest("The capital of Japan is", max_new_tokens=8, stop=("\n", ".")),
    GenerateRequest("User: What is the opposite of hot?\nAssistant:", max_new_tokens=12, stop=("\n",)),
    GenerateRequest("Q: What is 2+2?\nA:", max_new_tokens=6, stop=("\n",)),
    GenerateRequest("", max_new_tokens=4),  # an empty prompt starts from BOS
    GenerateRequest.chat([{"role": "system", "content": "Answer in one word."},
                          {"role": "user", "content": "Which animal barks?"}], max_new_tokens=10),
    GenerateRequest.chat([{"role": "user", "content": "Name a colour."}], max_new_tokens=6, stop=(",",)),
    GenerateRequest("1, 2, 3, 4,", max_new_tokens=10, stop=(" 7",)),
]


def test_batched_and_one_at_a_time_greedy_outputs_are_identical(smollm2):
    batched = smollm2.generate(REQUESTS, batch_size=len(REQUESTS))
    alone = [smollm2.generate([r], batch_size=1)[0] for r in REQUESTS]
    assert [(r.text, r.output_tokens, r.input_tokens) for r in batched] == \
        [(r.text, r.output_tokens, r.input_tokens) for r in alone]
    assert sum(bool(r.text.strip()) for r in batched) >= 5  # real answers, not trivially equal
    for req, res in zip(REQUESTS, batched):  # BPE stop strings cut the text, never appear in it
        assert not any(s in res.text for s in req.stop)
    counting = batched[-1]
    assert counting.text.replace(" ", "") == "5,6,", counting.text  # stopped at " 7" on a real BPE vocabulary


def test_loglikelihood_does_not_depend_on_the_batch(smollm2):
    requests = [LoglikelihoodRequest("Review: The food was wonderful.\nSentiment:", c) for c in (" positive", " negative")]
    requests += [LoglikelihoodRequest("The capital of France is", " Paris"),
                 LoglikelihoodRequest("The capital of France is", " a large city in Europe")]
    batched = smollm2.loglikelihood(requests, batch_size=4)
    alone = [smollm2.loglikelihood([r], batch_size=1)[0] for r in requests]
    assert [r.num_tokens for r in batched] == [r.num_tokens for r in alone]
    assert [r.is_greedy for r in batched] == [r.is_greedy for r in alone]
    assert [r.logprob for r in batched] == pytest.approx([r.logprob for r in alone], abs=1e-4)
    assert batched[0].logprob > batched[1].logprob  # it reads the review
    assert batched[2].is_greedy and batched[2].num_tokens == 1
