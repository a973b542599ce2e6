"""The response cache on a real SQLite file: keys, measurements kept, concurrency, listing and pruning."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmselect.backends.base import GenerateRequest, GenerateResult, LoglikelihoodRequest, LoglikelihoodResult
from pytest_llmselect.cache import ResponseCache, check_mode, fingerprint_dir, model_identity, request_json, stored_answers
from pytest_llmselect.errors import SpecError

IDENTITY = {"files_sha256": "abc", "backend": "hf", "implementation": "t", "dtype": "float32", "device_type": "cpu"}


def _gen(prompt: str, n: int = 5) -> GenerateRequest:
    return GenerateRequest(prompt, max_new_tokens=n, stop=("\n",))


def test_results_round_trip_with_their_batch_measurements(tmp_path: Path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    key = cache.model_key(IDENTITY)
    reqs = [_gen("1+1="), _gen("2+2=")]
    results = [GenerateResult("2", 4, 1, 0.01), GenerateResult("4", 4, 2, 0.01)]
    cache.put_batch(key, IDENTITY, "m", list(zip(reqs, results)), seconds=0.25)
    ll = LoglikelihoodRequest("a", " b")
    cache.put_batch(key, IDENTITY, "m", [(ll, LoglikelihoodResult(-1.2345678901234567, 1, 2, True, 3))], 0.5)
    got = cache.get_many(key, [*reqs, ll, _gen("other")])
    assert {r: c.result for r, c in got.items()} == {**dict(zip(reqs, results)),
                                                     ll: LoglikelihoodResult(-1.2345678901234567, 1, 2, True, 3)}
    assert got[reqs[0]].batch_seconds == 0.25 and got[reqs[0]].batch_size == 2
    assert got[reqs[0]].batch_id == got[reqs[1]].batch_id != got[ll].batch_id


def test_stored_answers_counts_a_cache_file_read_only(tmp_path: Path):
    path = tmp_path / "c.sqlite"
    assert stored_answers(path) == 0  # not there yet
    cache = ResponseCache(path)
    key = cache.model_key(IDENTITY)
    cache.put_batch(key, IDENTITY, "m", [(_gen("1+1="), GenerateResult("2", 4, 1)), (_gen("2+2="), GenerateResult("4", 4, 1))],
                    seconds=0.1)
    assert stored_answers(path) == 2
    (tmp_path / "junk.sqlite").write_bytes(b"not a database")
    assert stored_answers(tmp_path / "junk.sqlite") == 0


def test_another_model_or_setting_is_a_miss(tmp_path: Path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    key = cache.model_key(IDENTITY)
    cache.put_batch(key, IDENTITY, "m", [(_gen("x"), GenerateResult("y", 1, 1))], 0.1)
    assert cache.get_many(key, [_gen("x", n=6)]) == {}            # other generation settings
    assert cache.get_many(key, [GenerateRequest("x", 5, ("\n", "."))]) == {}
    for change in ({"dtype": "bfloat16"}, {"files_sha256": "abd"}, {"device_type": "cuda"}):
        assert cache.get_many(cache.model_key({**IDENTITY, **change}), [_gen("x")]) == {}
    assert len(cache.get_many(key, [_gen("x")])) == 1


def test_one_changed_byte_changes_the_directory_fingerprint(tmp_path: Path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(bytes(range(256)) * 10)
    (model / "tokenizer_config.json").write_text('{"chat_template": "{{ x }}"}')
    cache = ResponseCache(tmp_path / "c.sqlite")
    before = fingerprint_dir(model, cache)
    assert fingerprint_dir(model, cache) == before == fingerprint_dir(model)  # memo agrees with a full hash
    data = bytearray((model / "model.safetensors").read_bytes())
    data[-1] ^= 1
    (model / "model.safetensors").write_bytes(bytes(data))
    assert fingerprint_dir(model, cache) != before
    ident = model_identity(str(model), {"backend": "hf"}, dtype="float32", device="cpu", memo=cache)
    assert ident is not None and ident["files_sha256"] == fingerprint_dir(model)
    # A hub model is its commit; without a known commit it is not cached at all.
    assert model_identity("org/name", {"commit": "c0ffee"}, dtype="float32", device="cpu")["commit"] == "c0ffee"
    assert model_identity("org/name", {}, dtype="float32", device="cpu") is None
    served = model_identity("m", {"identity": {"base_url": "http://h", "model": "m"}}, dtype="x", device="remote")
    assert served["served"] == {"base_url": "http://h", "model": "m"}


def _writer(args: tuple[str, int]) -> int:
    path, worker = args
    cache = ResponseCache(Path(path))
    key = cache.model_key(IDENTITY)
    for batch in range(20):
        pairs = [(_gen(f"{worker}-{batch}-{i}"), GenerateResult(str(i), 3, 1)) for i in range(8)]
        cache.put_batch(key, IDENTITY, f"w{worker}", pairs, 0.01)
    return len(cache.get_many(key, [_gen(f"{w}-{b}-{i}") for w in range(4) for b in range(20) for i in range(8)]))


def test_four_processes_share_one_cache_file(tmp_path: Path):
    path = tmp_path / "c.sqlite"
    ResponseCache(path).close()
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        pool.map(_writer, [(str(path), w) for w in range(4)])
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert db.execute("SELECT COUNT(*) FROM results").fetchone() == (4 * 20 * 8,)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_read_mode_never_writes_and_missing_file_is_an_error(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        ResponseCache(tmp_path / "none.sqlite", "read")
    rw = ResponseCache(tmp_path / "c.sqlite")
    rw.put_batch(rw.model_key(IDENTITY), IDENTITY, "m", [(_gen("x"), GenerateResult("y", 1, 1))], 0.1)
    rw.close()
    ro = ResponseCache(tmp_path / "c.sqlite", "read")
    ro.put_batch(ro.model_key(IDENTITY), IDENTITY, "m", [(_gen("z"), GenerateResult("y", 1, 1))], 0.1)
    assert len(ro.get_many(ro.model_key(IDENTITY), [_gen("x"), _gen("z")])) == 1
    with pytest.raises(SpecError, match="--llm-cache must be one of off, read, readwrite, got 'on'"):
        check_mode("on")


def test_summary_and_prune(tmp_path: Path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    for label, sha in (("zoo:tiny (a)", "1"), ("zoo:base (b)", "2")):
        ident = {**IDENTITY, "files_sha256": sha}
        cache.put_batch(cache.model_key(ident), ident, label, [(_gen(p), GenerateResult("y", 1, 1)) for p in "abc"], 1)
    assert sorted((s["label"], s["entries"]) for s in cache.summary()) == [("zoo:base (b)", 3), ("zoo:tiny (a)", 3)]
    assert cache.prune(model="zoo:tiny") == 3
    assert [s["label"] for s in cache.summary()] == ["zoo:base (b)"]
    assert cache.prune(older_than_days=1) == 0
    assert cache.prune() == 3 and cache.summary() == []


@given(st.text(), st.integers(1, 64), st.lists(st.text(), max_size=3))
def test_request_json_is_canonical_and_distinct(prompt, n, stop):
    a = GenerateRequest(prompt, n, tuple(stop))
    assert request_json(a) == request_json(GenerateRequest(prompt, n, tuple(stop)))
    assert request_json(a) != request_json(GenerateRequest(prompt, n + 1, tuple(stop)))


def test_greedy_key_unchanged_by_sampling_fields_and_each_seed_its_own_key():
    # The key a greedy request had before requests could be sampled (pinned): old caches still hit.
    assert request_json(GenerateRequest("2+2=", 4)) == (
        '{"kind":"GenerateRequest","max_new_tokens":4,"messages":null,"prompt":"2+2=","stop":[]}')
    sampled = [request_json(GenerateRequest("2+2=", 4, temperature=0.8, seed=s)) for s in (0, 1)]
    assert sampled[0] != sampled[1] and '"temperature":0.8' in sampled[0]
    assert request_json(GenerateRequest("2+2=", 4, temperature=0.8, top_p=0.9, seed=0)) != sampled[0]


@pytest.mark.parametrize(("kwargs", "match"), [({"temperature": -1}, "temperature"), ({"top_p": 0}, "top_p"),
                                               ({"seed": -2}, "seed"), ({"temperature": float("nan")}, "temperature")])
def test_bad_sampling_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GenerateRequest("x", 4, **kwargs)


def test_one_changed_weight_byte_of_a_real_model_is_a_miss(tmp_path: Path):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import shutil

    from tests.helpers_tiny_model import build_tiny_model

    from pytest_llmselect.backends.hf import HFBackend
    from pytest_llmselect.engine import Measures, run_requests

    original = build_tiny_model(tmp_path / "original")
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    cache = ResponseCache(tmp_path / "c.sqlite")
    reqs = [_gen("1+2="), _gen("3+4=")]
    backend = HFBackend.load(str(copy), device="cpu")
    info = backend.info

    def key_of(path: Path) -> str:
        return cache.model_key(model_identity(str(path), info.extra, dtype=info.dtype, device=info.device,
                                              memo=cache))

    key = key_of(copy)
    ident = model_identity(str(copy), info.extra, dtype=info.dtype, device=info.device)
    run_requests(backend, reqs, batch_size=2, measures=Measures(),
                 on_batch=lambda b, r, s: cache.put_batch(key, ident, "copy", list(zip(b, r)), s))
    backend.close()
    assert key_of(original) == key  # the same files are the same model, wherever they are
    assert len(cache.get_many(key, reqs)) == 2
    weights = next(p for p in copy.iterdir() if p.suffix in (".safetensors", ".bin"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # one byte of the last tensor
    weights.write_bytes(bytes(data))
    assert key_of(copy) != key
    assert cache.get_many(key_of(copy), reqs) == {}  # another model: nothing served
    assert HFBackend.load(str(copy), device="cpu").info.num_parameters == info.num_parameters  # still loads


def test_cache_command_lists_and_prunes(tmp_path: Path, capsys):
    from pytest_llmselect.__main__ import main

    path = tmp_path / "c.sqlite"
    cache = ResponseCache(path)
    cache.put_batch(cache.model_key(IDENTITY), IDENTITY, "zoo:tiny (/m)", [(_gen("x"), GenerateResult("y", 1, 1))], 1)
    cache.close()
    assert main(["cache", "list", "--path", str(path)]) == 0
    out = capsys.readouterr().out
    assert "zoo:tiny (/m)" in out and "1 result(s) of 1 model(s)" in out
    assert main(["cache", "prune", "--path", str(path)]) == 2  # refuses to delete everything unasked
    assert "needs --model NAME, --older-than DAYS or --all" in capsys.readouterr().err
    assert main(["cache", "prune", "--path", str(path), "--model", "zoo:tiny"]) == 0
    assert "deleted 1 cached result(s)" in capsys.readouterr().out
    assert main(["cache", "list", "--path", str(tmp_path / "none.sqlite")]) == 2
    assert "no response cache there" in capsys.readouterr().err
