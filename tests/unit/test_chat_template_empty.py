"""A chat template that renders the messages as nothing: the case fails in one line naming
the template, instead of being scored on an empty prompt without a word (found by a trial)."""

from __future__ import annotations

import shutil

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from tests.helpers_tiny_model import build_tiny_model  # noqa: E402

from pytest_llmselect.backends.base import GenerateRequest  # noqa: E402
from pytest_llmselect.engine import Measures, RequestFailed, run_requests  # noqa: E402


def test_messages_the_template_renders_as_nothing_fail_their_case_in_one_line(tmp_path):
    from transformers import AutoTokenizer

    from pytest_llmselect.backends.hf import HFBackend

    torch.set_num_threads(1)
    model = build_tiny_model(tmp_path / "model", seed=0)
    chat = tmp_path / "chat"
    shutil.copytree(model, chat)
    tok = AutoTokenizer.from_pretrained(chat)
    tok.chat_template = "{% for m in messages %}{% endfor %}"  # renders nothing at all
    tok.save_pretrained(chat)
    backend = HFBackend.load(str(chat), device="cpu")
    try:
        chat_req = GenerateRequest.chat([{"role": "user", "content": "Hello"}], max_new_tokens=3)
        raw_req = GenerateRequest("Hello", max_new_tokens=3)
        out = run_requests(backend, [chat_req, raw_req], batch_size=2, measures=Measures())
    finally:
        backend.close()
    failed = out[chat_req]
    assert isinstance(failed, RequestFailed) and failed.capability is not None
    assert "chat template" in failed.capability and "empty" in failed.capability and "\n" not in failed.capability
    assert not isinstance(out[raw_req], RequestFailed)
