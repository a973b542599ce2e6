"""The transformers backend, on a tiny random GPT-2 built locally (no hub access)."""

from __future__ import annotations

import gc
import sys
import weakref
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers_tiny_model import build_tiny_model, build_tokenizer  # noqa: E402

from pytest_llmselect.backends import hf  # noqa: E402
from pytest_llmselect.backends.base import (  # noqa: E402
    Backend,
    GenerateRequest,
    LoglikelihoodRequest,
    LoglikelihoodResult,
)
from pytest_llmselect.backends.hf import HFBackend  # noqa: E402
from pytest_llmselect.backends.hf.generation import finish_row  # noqa: E402
from pytest_llmselect.errors import BackendError  # noqa: E402

cuda_only = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

PROMPTS = ["a", "Hello there", "1+2=", "The quick brown fox jumps over", "x\ny", "Zq"]


@pytest.fixture(scope="module", autouse=True)
def _one_cpu_thread():
    # A 30k-parameter model gains nothing from intra-op threads, and on a busy CI box they
    # contend: one thread made generation here 15x faster.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", seed=0)


@pytest.fixture(scope="module")
def short_model_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("short") / "model", seed=1, n_positions=16)


@pytest.fixture(scope="module")
def backend(model_dir):
    b = HFBackend.load(str(model_dir), device="cpu")
    yield b
    b.close()


def _key(result):
    # first_token_seconds is a clock reading, not part of the answer.
    return (result.text, result.input_tokens, result.output_tokens)


def _one_at_a_time(backend, requests, method):
    return [getattr(backend, method)([r], batch_size=1)[0] for r in requests]


# -- helper tokenizer ---------------------------------------------------------------------------


def test_tokenizer_round_trips_text_exactly():
    tok = build_tokenizer()
    text = "Hello, world!\n 1+2 = 3  x"
    ids = tok(text)["input_ids"]
    assert len(ids) == len(text)
    assert tok.decode(ids) == text


# -- loading ------------------------------------------------------------------------------------


def test_load_reports_model_info(backend, model_dir):
    from transformers import AutoModelForCausalLM

    fresh = AutoModelForCausalLM.from_pretrained(model_dir)
    assert backend.info.num_parameters == sum(p.numel() for p in fresh.parameters())
    assert backend.info.name == str(model_dir)
    assert backend.info.device == "cpu"
    assert backend.info.dtype == "float32"
    assert backend.info.extra["source"] == str(model_dir)
    assert backend.info.extra["load_seconds"] > 0
    assert isinstance(backend, Backend)


def test_load_display_name_and_tokenizer_setup(model_dir):
    b = HFBackend.load(str(model_dir), display_name="tiny", device="cpu", dtype="bfloat16")
    try:
        assert b.info.name == "tiny"
        assert b.info.dtype == "bfloat16"
        assert b._tokenizer.padding_side == "left"
        assert b._tokenizer.pad_token is not None
    finally:
        b.close()


def test_missing_model_dir_names_the_path(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(BackendError, match="no-such-model") as info:
        HFBackend.load(str(missing), device="cpu")
    assert "\n" not in str(info.value)
    assert str(missing) in str(info.value)


def test_dir_without_weights_is_a_backend_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(BackendError, match="empty"):
        HFBackend.load(str(tmp_path / "empty"), device="cpu")


@pytest.mark.parametrize("dtype", ["fp16", "int8", "torch.float32", ""])
def test_bad_dtype_names_the_value(model_dir, dtype):
    with pytest.raises(BackendError, match="dtype") as info:
        HFBackend.load(str(model_dir), device="cpu", dtype=dtype)
    assert repr(dtype) in str(info.value)


@pytest.mark.parametrize("dtype, expected", [("float32", torch.float32), ("float16", torch.float16),
                                              ("bfloat16", torch.bfloat16), ("auto", "auto")])
def test_dtype_strings(dtype, expected):
    assert hf.resolve_dtype(dtype, torch.device("cpu")) == expected


def test_default_dtype_depends_on_device():
    assert hf.resolve_dtype(None, torch.device("cpu")) == torch.float32
    assert hf.resolve_dtype(None, torch.device("cuda")) == torch.bfloat16


def test_bad_device_names_the_value():
    with pytest.raises(BackendError, match="'banana'"):
        hf.resolve_device("banana")
    with pytest.raises(BackendError, match="device"):
        hf.resolve_device(3)  # type: ignore[arg-type]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only message")
def test_cuda_without_cuda_is_a_backend_error(model_dir):
    with pytest.raises(BackendError, match="CUDA is not available"):
        HFBackend.load(str(model_dir), device="cuda")


def test_default_device():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert hf.resolve_device(None).type == expected


# -- generate -----------------------------------------------------------------------------------


def test_batched_generate_equals_one_at_a_time(backend):
    requests = [GenerateRequest(p, max_new_tokens=n) for p, n in zip(PROMPTS, [12, 12, 5, 20, 3, 12])]
    batched = backend.generate(requests, batch_size=4)
    single = _one_at_a_time(backend, requests, "generate")
    assert [_key(r) for r in batched] == [_key(r) for r in single]
    assert [r.input_tokens for r in batched] == [len(p) for p in PROMPTS]
    assert [r.output_tokens for r in batched] == [12, 12, 5, 20, 3, 12]
    assert [len(r.text) for r in batched] == [12, 12, 5, 20, 3, 12]


def test_batched_generate_with_stops_and_mixed_budgets_equals_one_at_a_time(backend):
    free = backend.generate([GenerateRequest(p, max_new_tokens=20) for p in PROMPTS])
    requests = []
    for i, (p, r) in enumerate(zip(PROMPTS, free)):
        stop = (r.text[4:6], r.text[9]) if i % 2 == 0 else ()
        requests.append(GenerateRequest(p, max_new_tokens=[20, 7, 15, 20, 9, 3][i], stop=stop))
    for batch_size in (1, 2, 3, 16):
        batched = backend.generate(requests, batch_size=batch_size)
        single = _one_at_a_time(backend, requests, "generate")
        assert [_key(r) for r in batched] == [_key(r) for r in single]
    cut = 0
    for req, res, ref in zip(requests, batched, free):
        full = ref.text[: req.max_new_tokens]
        cuts = [full.find(s) for s in req.stop if s in full]
        if cuts:
            assert res.text == full[: min(cuts)]
            # One token per character: the stop string's last character is the last token counted.
            ends = [full.find(s) + len(s) for s in req.stop if s in full]
            assert res.output_tokens == min(ends)
            cut += 1
        else:
            assert res.text == full
            assert res.output_tokens == req.max_new_tokens
    assert cut >= 2


def test_stop_string_cut_excludes_the_stop(backend):
    ref = backend.generate([GenerateRequest("Hello there", max_new_tokens=20)])[0].text
    stop = ref[6:8]
    res = backend.generate([GenerateRequest("Hello there", max_new_tokens=20, stop=(stop, "\x00never"))])[0]
    assert res.text == ref[: ref.find(stop)]
    assert stop not in res.text


def test_stop_string_found_far_beyond_the_decode_window(backend):
    # The stopper decodes only a tail window of new tokens per step; a late stop must still be found
    # at the step that completes it.
    frees = backend.generate([GenerateRequest(p, max_new_tokens=60) for p in PROMPTS])
    found = [(p, r.text, i) for p, r in zip(PROMPTS, frees) for i in range(30, 55)
             if r.text[i:i + 2] not in r.text[: i + 1]]
    assert found, "the test needs a late, first-time bigram"
    prompt, text, i = found[0]
    requests = [GenerateRequest(prompt, max_new_tokens=60, stop=(text[i:i + 2],)), GenerateRequest("a", 60)]
    batched = backend.generate(requests, batch_size=2)
    assert batched[0].text == text[:i] and batched[0].output_tokens == i + 2
    assert [_key(r) for r in batched] == [_key(r) for r in _one_at_a_time(backend, requests, "generate")]


def test_stop_string_straddling_the_prompt_does_not_fire(backend):
    prompt = "1+2="
    ref = backend.generate([GenerateRequest(prompt, max_new_tokens=10)])[0].text
    straddle = prompt[-1] + ref[0]
    assert straddle not in ref
    res = backend.generate([GenerateRequest(prompt, max_new_tokens=10, stop=(straddle,))])[0]
    assert res.text == ref and res.output_tokens == 10


def test_generation_stops_once_every_row_hit_a_stop(backend):
    refs = backend.generate([GenerateRequest(p, max_new_tokens=5) for p in PROMPTS[:3]])
    calls = []
    handle = backend._model.register_forward_hook(lambda *args: calls.append(1))
    try:
        results = backend.generate(
            [GenerateRequest(p, max_new_tokens=60, stop=(r.text[1],)) for p, r in zip(PROMPTS[:3], refs)]
        )
    finally:
        handle.remove()
    assert len(calls) <= 2  # the prefill plus at most one decoding step, not 60
    assert all(r.output_tokens <= 2 for r in results)


def test_eos_ends_a_row_and_is_counted(model_dir):
    b = HFBackend.load(str(model_dir), device="cpu")
    try:
        eos = b._tokenizer.eos_token_id
        with torch.no_grad():  # a loud EOS row in the (tied) output embedding makes EOS common
            b._model.transformer.wte.weight[eos] *= 6
        requests = [GenerateRequest(p, max_new_tokens=25) for p in PROMPTS]
        batched = b.generate(requests, batch_size=6)
        single = _one_at_a_time(b, requests, "generate")
        assert [_key(r) for r in batched] == [_key(r) for r in single]
        ended = [r for r in batched if r.output_tokens < 25]
        assert ended, "the test needs at least one row that ends with EOS"
        for r in ended:
            assert r.output_tokens == len(r.text) + 1  # the EOS token counts, its text does not
    finally:
        b.close()


def test_finish_rule():
    def decode(ids):
        return "".join(chr(i) for i in ids if i != 0)

    ids = [ord(c) for c in "abcdef"] + [0, 0]
    assert finish_row(ids, 8, (), set(), None, decode) == ("abcdef", 8)
    assert finish_row(ids, 4, (), set(), None, decode) == ("abcd", 4)
    assert finish_row(ids, 8, (), {0}, None, decode) == ("abcdef", 7)
    assert finish_row(ids, 8, ("cd",), {0}, 4, decode) == ("ab", 4)
    assert finish_row(ids, 8, ("x", "bc"), {0}, 3, decode) == ("a", 3)


def test_first_token_seconds_is_shared_by_a_batch(backend):
    results = backend.generate([GenerateRequest(p, max_new_tokens=4) for p in PROMPTS[:3]], batch_size=16)
    seconds = {r.first_token_seconds for r in results}
    assert len(seconds) == 1
    (value,) = seconds
    assert value is not None and value > 0


def test_empty_prompt_conditions_on_eos(backend):
    res = backend.generate([GenerateRequest("", max_new_tokens=3)])[0]
    assert res.input_tokens == 1 and res.output_tokens == 3


def test_generate_truncates_long_prompts_from_the_left(short_model_dir):
    b = HFBackend.load(str(short_model_dir), device="cpu")
    try:
        prompt = "abcdefghijklmnopqrstuvwxyz"
        res = b.generate([GenerateRequest(prompt, max_new_tokens=4)])[0]
        assert res.input_tokens == 12
        assert _key(res) == _key(b.generate([GenerateRequest(prompt[-12:], max_new_tokens=4)])[0])
        with pytest.raises(BackendError, match="max_new_tokens=16"):
            b.generate([GenerateRequest(prompt, max_new_tokens=16)])
    finally:
        b.close()


def test_empty_requests_and_bad_batch_size(backend):
    assert backend.generate([]) == []
    assert backend.loglikelihood([]) == []
    with pytest.raises(BackendError, match="batch_size"):
        backend.generate([GenerateRequest("a")], batch_size=0)
    with pytest.raises(BackendError, match="batch_size"):
        backend.loglikelihood([LoglikelihoodRequest("a", "b")], batch_size=-1)


# -- loglikelihood ------------------------------------------------------------------------------

LL_REQUESTS = [
    LoglikelihoodRequest("Hello", " world"),
    LoglikelihoodRequest("", "abc"),
    LoglikelihoodRequest("1+2=", "3"),
    LoglikelihoodRequest("The quick brown fox jumps over", " the lazy dog"),
    LoglikelihoodRequest("Question: 2+2?\nAnswer:", " 4"),
    LoglikelihoodRequest("q", "a much longer continuation than its context"),
]


@pytest.mark.parametrize("batch_size", [2, 3, 16])
def test_batched_loglikelihood_equals_one_at_a_time(backend, batch_size):
    batched = backend.loglikelihood(LL_REQUESTS, batch_size=batch_size)
    single = _one_at_a_time(backend, LL_REQUESTS, "loglikelihood")
    for b, s in zip(batched, single):
        assert b.logprob == pytest.approx(s.logprob, abs=1e-4)
        assert (b.num_tokens, b.num_chars, b.is_greedy, b.input_tokens) == (
            s.num_tokens, s.num_chars, s.is_greedy, s.input_tokens)


def test_right_padding_path_matches(backend):
    left = backend.loglikelihood(LL_REQUESTS)
    backend._accepts_position_ids = False
    try:
        right = backend.loglikelihood(LL_REQUESTS)
    finally:
        backend._accepts_position_ids = True
    for a, b in zip(left, right):
        assert a.logprob == pytest.approx(b.logprob, abs=1e-4)
        assert a.is_greedy == b.is_greedy


def _hand_logprob(backend, context_ids, continuation_ids):
    ids = torch.tensor([context_ids + continuation_ids])
    with torch.no_grad():
        logits = backend._model(ids).logits[0].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    n = len(context_ids)
    picked = [logprobs[n - 1 + j, t] for j, t in enumerate(continuation_ids)]
    greedy = all(int(logprobs[n - 1 + j].argmax()) == t for j, t in enumerate(continuation_ids))
    return float(sum(picked)), greedy


def test_loglikelihood_matches_a_plain_forward_pass(backend):
    tok = backend._tokenizer
    res = backend.loglikelihood([LoglikelihoodRequest("Hello", " world")])[0]
    expected, greedy = _hand_logprob(backend, tok("Hello")["input_ids"], tok(" world")["input_ids"])
    assert res.logprob == pytest.approx(expected, abs=1e-4)
    assert res.is_greedy == greedy
    assert (res.num_tokens, res.num_chars, res.input_tokens) == (6, 6, 10)
    assert res.logprob_per_token == pytest.approx(res.logprob / 6)
    assert res.logprob_per_char == pytest.approx(res.logprob / 6)


def test_trailing_context_whitespace_moves_to_the_continuation(backend):
    moved = backend.loglikelihood([LoglikelihoodRequest("Hello ", "world")])[0]
    plain = backend.loglikelihood([LoglikelihoodRequest("Hello", " world")])[0]
    assert moved.logprob == pytest.approx(plain.logprob, abs=1e-5)
    assert moved.num_tokens == 6 and moved.num_chars == 5


def test_empty_context_conditions_on_eos(backend):
    tok = backend._tokenizer
    res = backend.loglikelihood([LoglikelihoodRequest("", "abc")])[0]
    expected, _ = _hand_logprob(backend, [tok.eos_token_id], tok("abc")["input_ids"])
    assert res.logprob == pytest.approx(expected, abs=1e-4)
    assert res.input_tokens == 3


def test_greedy_continuation_is_greedy(backend):
    text = backend.generate([GenerateRequest("Hello", max_new_tokens=5)])[0].text
    res = backend.loglikelihood([LoglikelihoodRequest("Hello", text)])[0]
    assert res.is_greedy
    other = "a" if text[0] != "a" else "b"
    assert not backend.loglikelihood([LoglikelihoodRequest("Hello", other + text[1:])])[0].is_greedy


def test_per_token_and_per_char():
    r = LoglikelihoodResult(logprob=-6.0, num_tokens=3, num_chars=4, is_greedy=False)
    assert r.logprob_per_token == -2.0
    assert r.logprob_per_char == -1.5


def test_loglikelihood_truncates_context_from_the_left(short_model_dir):
    b = HFBackend.load(str(short_model_dir), device="cpu")
    try:
        context = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"
        res = b.loglikelihood([LoglikelihoodRequest(context, "xyz")])[0]
        assert res.input_tokens == 16
        kept = b.loglikelihood([LoglikelihoodRequest(context[-14:], "xyz")])[0]
        assert res.logprob == pytest.approx(kept.logprob, abs=1e-5)
        with pytest.raises(BackendError, match="position limit 16"):
            b.loglikelihood([LoglikelihoodRequest("a", "b" * 17)])
    finally:
        b.close()


# -- close and memory ---------------------------------------------------------------------------


def test_close_frees_the_model_and_later_calls_fail(model_dir):
    b = HFBackend.load(str(model_dir), display_name="closing", device="cpu")
    ref = weakref.ref(b._model)
    b.close()
    gc.collect()
    assert ref() is None
    with pytest.raises(BackendError, match="model 'closing' was closed"):
        b.generate([GenerateRequest("a")])
    with pytest.raises(BackendError, match="was closed"):
        b.loglikelihood([LoglikelihoodRequest("a", "b")])
    b.close()  # closing twice is harmless


def test_cpu_peak_memory_is_the_process_high_water_mark():
    hf.reset_peak_memory("cpu")
    hf.synchronize("cpu")
    peak = hf.read_peak_memory("cpu")
    import psutil

    assert peak >= psutil.Process().memory_info().rss * 0.5
    assert hf.read_peak_memory("cpu") >= peak


# -- CUDA ---------------------------------------------------------------------------------------


@cuda_only
def test_cuda_defaults_to_bfloat16_on_the_gpu(model_dir):
    b = HFBackend.load(str(model_dir))
    try:
        assert b.info.dtype == "bfloat16"
        assert b.info.device.startswith("cuda")
        assert next(b._model.parameters()).device.type == "cuda"
        res = b.generate([GenerateRequest(p, max_new_tokens=5) for p in PROMPTS])
        assert all(r.output_tokens == 5 for r in res)
        assert all(r.first_token_seconds is not None and r.first_token_seconds > 0 for r in res)
        ll = b.loglikelihood(LL_REQUESTS)
        assert all(r.logprob < 0 for r in ll)
    finally:
        b.close()


@cuda_only
def test_cuda_float32_batched_equals_one_at_a_time(model_dir):
    b = HFBackend.load(str(model_dir), device="cuda", dtype="float32")
    try:
        free = b.generate([GenerateRequest(p, max_new_tokens=20) for p in PROMPTS])
        requests = [GenerateRequest(p, max_new_tokens=[20, 7, 15, 20, 9, 3][i], stop=(r.text[5],) if i % 2 else ())
                    for i, (p, r) in enumerate(zip(PROMPTS, free))]
        assert [_key(r) for r in b.generate(requests, batch_size=4)] == [
            _key(r) for r in _one_at_a_time(b, requests, "generate")]
        batched = b.loglikelihood(LL_REQUESTS, batch_size=4)
        single = _one_at_a_time(b, LL_REQUESTS, "loglikelihood")
        for x, y in zip(batched, single):
            assert x.logprob == pytest.approx(y.logprob, abs=1e-4)
    finally:
        b.close()


@cuda_only
def test_cuda_peak_memory_resets_and_close_frees(model_dir):
    device = "cuda"
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    b = HFBackend.load(str(model_dir), device=device)
    hf.reset_peak_memory(device)
    block = torch.empty(64 * 2**20, dtype=torch.uint8, device=device)
    hf.synchronize(device)
    assert hf.read_peak_memory(device) >= 64 * 2**20
    del block
    hf.reset_peak_memory(device)
    assert hf.read_peak_memory(device) < 64 * 2**20
    b.close()
    assert torch.cuda.memory_allocated() <= before


# ---- chat messages --------------------------------------------------------------------------


def test_messages_without_a_chat_template_are_one_clear_error(backend):
    req = GenerateRequest.chat([{"role": "user", "content": "Hello"}], max_new_tokens=3)
    with pytest.raises(BackendError, match="has no chat template, so it cannot take chat messages") as info:
        backend.generate([GenerateRequest("a", max_new_tokens=2), req])
    assert "\n" not in str(info.value)


def test_messages_use_the_chat_template_with_the_generation_prompt(model_dir, tmp_path):
    from transformers import AutoTokenizer

    import shutil

    chat_dir = tmp_path / "chat"
    shutil.copytree(model_dir, chat_dir)
    tok = AutoTokenizer.from_pretrained(chat_dir)
    # A template whose generation prompt is visible: "<user text>\nA:".
    tok.chat_template = ("{% for m in messages %}{{ m['role'][0] | upper }}:{{ m['content'] }}\n{% endfor %}"
                         "{% if add_generation_prompt %}A:{% endif %}")
    tok.save_pretrained(chat_dir)
    chat_backend = HFBackend.load(str(chat_dir), device="cpu")
    try:
        messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "Hello"}]
        chat = chat_backend.generate([GenerateRequest.chat(messages, max_new_tokens=6)])[0]
        raw = chat_backend.generate([GenerateRequest("S:be brief\nU:Hello\nA:", max_new_tokens=6)])[0]
    finally:
        chat_backend.close()
    assert (chat.text, chat.input_tokens, chat.output_tokens) == (raw.text, raw.input_tokens, raw.output_tokens)
    assert chat.input_tokens == len("S:be brief\nU:Hello\nA:")


def test_one_bad_request_fails_only_itself(tmp_path):
    """Issue 15: an empty context on a model with no BOS or EOS token cannot be scored; the
    other requests of its batch keep their (batched) results instead of failing with it."""
    from pytest_llmselect.engine import Measures, RequestFailed, run_requests

    path = build_tiny_model(tmp_path / "no-eos", seed=2, eos=False)
    b = HFBackend.load(str(path), device="cpu")
    try:
        good = [LoglikelihoodRequest("ab", "c"), LoglikelihoodRequest("x", "yz")]
        bad = LoglikelihoodRequest("", "a")
        measures = Measures()
        out = run_requests(b, [good[0], bad, good[1]], batch_size=8, measures=measures)
        assert out[bad] == RequestFailed(f"BackendError: cannot score with model {str(path)!r}: "
                                         "no BOS or EOS token for an empty context")
        alone = b.loglikelihood(good, batch_size=1)
        assert [out[r].logprob for r in good] == pytest.approx([r.logprob for r in alone], abs=1e-5)
        assert measures.requests == 2  # the failed request is not counted as model work
        gen = run_requests(b, [GenerateRequest("", 2), GenerateRequest("a", 2)], batch_size=8, measures=Measures())
        assert isinstance(gen[GenerateRequest("", 2)], RequestFailed)
        assert gen[GenerateRequest("a", 2)].text == b.generate([GenerateRequest("a", 2)])[0].text
    finally:
        b.close()


def test_directory_without_tokenizer_files_fails_to_load(tmp_path):
    """Issue 15: weights without tokenizer files used to load with an empty tokenizer and be
    ranked on empty outputs."""
    path = build_tiny_model(tmp_path / "no-tokenizer", seed=0)
    for f in path.iterdir():
        if f.name not in ("config.json", "generation_config.json", "model.safetensors"):
            f.unlink()
    with pytest.raises(BackendError) as info:
        HFBackend.load(str(path), device="cpu")
    assert str(info.value) == (f"cannot load model {str(path)!r}: its tokenizer is empty (the directory has no "
                               "tokenizer files: save them with tokenizer.save_pretrained)")


def test_truncation_is_counted_per_request(short_model_dir):
    """Issue 15: a prompt longer than the context window (16 positions here) is cut from the
    left, and the result says how many tokens were dropped."""
    b = HFBackend.load(str(short_model_dir), device="cpu")
    try:
        long, short = GenerateRequest("a" * 30, 4), GenerateRequest("ab", 4)
        gen = b.generate([long, short])
        assert (gen[0].truncated_tokens, gen[1].truncated_tokens) == (30 - (16 - 4), 0)
        ll = b.loglikelihood([LoglikelihoodRequest("b" * 30, "c"), LoglikelihoodRequest("b", "c")])
        assert (ll[0].truncated_tokens, ll[1].truncated_tokens) == (31 - 17, 0)
    finally:
        b.close()
