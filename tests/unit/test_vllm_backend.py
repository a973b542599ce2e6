"""The vllm: backend. Its model tests need vLLM and a CUDA GPU and skip cleanly without them; the
spec and the missing-dependency message are checked everywhere."""

from __future__ import annotations

import importlib.util

import pytest

from pytest_llmselect.candidates import parse_spec
from pytest_llmselect.errors import MissingDependency, SpecError

HAS_VLLM = importlib.util.find_spec("vllm") is not None


def test_vllm_spec_names_a_directory_or_hub_id(tmp_path):
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "config.json").write_text("{}")
    local = parse_spec("vllm:./ckpt", base_dir=tmp_path)
    assert (local.kind, local.source) == ("vllm", str((tmp_path / "ckpt").resolve()))
    assert parse_spec("vllm:Qwen/Qwen2.5-0.5B").source == "Qwen/Qwen2.5-0.5B"
    assert parse_spec("vllm:zoo:small").source == "zoo:small"
    for bad in ("vllm:", "vllm:zoo:nope", "vllm:openai:m@http://h/v1", "vllm:./missing"):
        with pytest.raises(SpecError, match="vllm"):
            parse_spec(bad, base_dir=tmp_path)


@pytest.mark.skipif(HAS_VLLM, reason="vLLM is installed here")
def test_without_vllm_the_load_says_what_to_install():
    from pytest_llmselect.backends import load_backend

    with pytest.raises(MissingDependency, match="vllm: candidates need vLLM"):
        load_backend(parse_spec("vllm:gpt2"))


@pytest.mark.slow
@pytest.mark.skipif(not HAS_VLLM, reason="needs vllm (not a dependency of this package)")
def test_vllm_greedy_and_loglikelihood_match_transformers():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("vLLM needs a CUDA GPU")
    from pytest_llmselect.backends.base import GenerateRequest, LoglikelihoodRequest
    from pytest_llmselect.backends.hf import HFBackend
    from pytest_llmselect.backends.vllm import VLLMBackend
    from pytest_llmselect.zoo import zoo_path

    model_dir = str(zoo_path("small"))
    gens = [GenerateRequest(p, max_new_tokens=5, stop=("\n",)) for p in ("21+5=", "59+33=", "60+72=")]
    scores = [LoglikelihoodRequest("largest of 69 58 60 66:", c) for c in (" 69", " 58")]
    served = VLLMBackend.load(model_dir, display_name="vllm:small", dtype="float32")
    try:
        got_gen, got_ll = served.generate(gens), served.loglikelihood(scores)
    finally:
        served.close()
    local = HFBackend.load(model_dir, device="cuda", dtype="float32")
    try:
        want_gen, want_ll = local.generate(gens), local.loglikelihood(scores)
    finally:
        local.close()
    assert [r.text for r in got_gen] == [r.text for r in want_gen]
    assert [r.logprob for r in got_ll] == pytest.approx([r.logprob for r in want_ll], abs=1e-3)
