"""The converted real model behind the real ``transformers serve``: the served candidate's greedy
outputs, raw prompts and chat turns alike, are the local backend's."""

from __future__ import annotations

import pytest

pytest.importorskip("httpx")
pytest.importorskip("tenacity")
pytest.importorskip("torch")
pytest.importorskip("transformers")

from transformers.utils.import_utils import is_serve_available  # noqa: E402

from pytest_llmselect.backends.base import GenerateRequest  # noqa: E402
from pytest_llmselect.backends.openai import OpenAIBackend  # noqa: E402
from pytest_llmselect.endpoints import ServedSettings  # noqa: E402
from tests.served_kit import transformers_serve  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not is_serve_available(), reason="needs transformers[serving] (pip install '.[serve]')"),
]

# A raw prompt with stop strings, a stop string spanning BPE tokens, a chat turn with a system
# message: what the served path must keep. Few, because the server answers them one by one.
REQUESTS = [
    GenerateRequest("The capital of Japan is", max_new_tokens=8, stop=("\n", ".")),
    GenerateRequest("1, 2, 3, 4,", max_new_tokens=10, stop=(" 7",)),
    GenerateRequest.chat([{"role": "system", "content": "Answer in one word."},
                          {"role": "user", "content": "Which animal barks?"}], max_new_tokens=10),
]


def test_served_greedy_outputs_equal_the_local_backends(smollm2_dir, smollm2, tmp_path):
    # A 135M model: the server loads it before /health answers, slowly on a busy shared machine.
    with transformers_serve(smollm2_dir, log=tmp_path / "serve.log", startup_s=600) as base_url:
        served = OpenAIBackend.load(ServedSettings(base_url, str(smollm2_dir), max_concurrency=2),
                                    display_name="served-smollm2", backoff_s=0.05)
        try:
            remote = served.generate(REQUESTS)
        finally:
            served.close()
    local = smollm2.generate(REQUESTS)
    assert [r.text for r in remote] == [r.text for r in local]
    assert sum(bool(r.text.strip()) for r in remote) == len(REQUESTS)  # real answers, not trivially equal
    assert [r.input_tokens for r in remote] == [r.input_tokens for r in local]
