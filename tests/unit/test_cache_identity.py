"""Cache identity that holds: faults found by a hostile trial, each reproduced here first.

A served model's card changing per request, weights rewritten in place with their metadata put
back, peak memory lost on a cached re-run, a read-only disk, answers of a served model too old
to trust."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from pytest_llmselect.backends.base import GenerateRequest, GenerateResult, ModelInfo
from pytest_llmselect.cache import ResponseCache, fingerprint_dir, model_identity
from pytest_llmselect.cache_layer import CacheLayer

IDENTITY = {"files_sha256": "abc", "backend": "hf", "implementation": "t", "dtype": "float32", "device_type": "cpu"}


def _gen(prompt: str) -> GenerateRequest:
    return GenerateRequest(prompt, max_new_tokens=5, stop=("\n",))


def test_a_vllm_model_card_whose_created_is_the_request_time_keeps_one_identity():
    """vLLM's /v1/models answers ``created`` = now (and a fresh permission id): every re-run was
    a full miss."""
    def card(now: int) -> dict:
        return {"identity": {"base_url": "http://h:8000/v1", "model": "m", "server": "uvicorn", "owned_by": "vllm",
                             "root": "/models/m", "created": now, "listed": True,
                             "permission": [{"id": f"modelperm-{now}", "created": now}]}}

    first = model_identity("m", card(1_700_000_000), dtype="server", device="remote")
    later = model_identity("m", card(1_700_000_321), dtype="server", device="remote")
    assert ResponseCache.model_key(first) == ResponseCache.model_key(later)
    other = model_identity("m", {"identity": {**card(1)["identity"], "root": "/models/other"}}, dtype="server",
                           device="remote")
    assert ResponseCache.model_key(other) != ResponseCache.model_key(first)  # what names the model still counts


def _rewrite_in_place(path: Path, data: bytes) -> None:
    """Same size, same inode, mtime put back: what a careless copy tool or a restore does."""
    st = path.stat()
    with open(path, "r+b") as fh:
        fh.write(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_ino, after.st_mtime_ns) == (st.st_size, st.st_ino, st.st_mtime_ns)


def _model(tmp_path: Path) -> Path:
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"\x01" * 4096)
    (model / "config.json").write_text("{}")
    return model


def test_weights_rewritten_in_place_with_size_inode_and_mtime_kept_are_another_model(tmp_path: Path):
    """Found by a trial: 10 of 10 answers of the old weights served for the new ones, because the
    content digest was remembered against size, mtime and inode only."""
    model = _model(tmp_path)
    cache = ResponseCache(tmp_path / "c.sqlite")
    before = fingerprint_dir(model, cache)
    _rewrite_in_place(model / "model.safetensors", b"\x02" * 4096)
    assert fingerprint_dir(model, cache) == fingerprint_dir(model) != before


def test_an_old_file_is_remembered_and_a_new_ctime_is_noticed(tmp_path: Path, monkeypatch):
    """Files last changed long before hashing (RACY_S = 0 stands in for waiting) are hashed once;
    a rewrite that puts size, inode and mtime back still changes the ctime, and is hashed again."""
    import pytest_llmselect.identity as identity

    monkeypatch.setattr(identity, "RACY_S", 0.0)
    model = _model(tmp_path)
    cache = ResponseCache(tmp_path / "c.sqlite")
    before = fingerprint_dir(model, cache)
    remembered = cache._db.execute("SELECT COUNT(*) FROM fingerprints").fetchone()[0]
    assert remembered == 1 and fingerprint_dir(model, cache) == before
    _rewrite_in_place(model / "model.safetensors", b"\x03" * 4096)
    assert fingerprint_dir(model, cache) == fingerprint_dir(model) != before


def test_peak_memory_survives_a_cached_rerun(tmp_path: Path):
    """Found by a trial: a cached re-run had no peak memory, so max_peak_memory excluded every
    candidate."""
    cache = ResponseCache(tmp_path / "c.sqlite")
    key = cache.model_key(IDENTITY)
    batch = cache.put_batch(key, IDENTITY, "m", [(_gen("x"), GenerateResult("y", 1, 1))], 0.1)
    cache.put_memory([batch], 123_456_789, "rss")
    cache.close()
    (hit,) = ResponseCache(tmp_path / "c.sqlite", "read").get_many(key, [_gen("x")]).values()
    assert (hit.peak_memory_bytes, hit.memory_method) == (123_456_789, "rss")


def _as_nobody(fn) -> str:
    """``fn()`` in a forked child without root's power over file modes (a read-only disk for it)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(r)
        try:
            if os.getuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            out = fn()
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            out = f"{type(exc).__name__}: {exc}"
        os.write(w, str(out).encode())
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    with os.fdopen(r) as pipe:
        return pipe.read()


@pytest.fixture
def open_folder():
    """A folder every user can reach (pytest's tmp_path is private to its owner)."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="llmselect-ro-"))
    folder.chmod(0o755)
    yield folder
    folder.chmod(0o755)
    shutil.rmtree(folder)


def test_read_mode_works_on_a_read_only_disk(open_folder: Path):
    folder = open_folder / "ro"
    folder.mkdir()
    path = folder / "c.sqlite"
    rw = ResponseCache(path)
    key = rw.model_key(IDENTITY)
    rw.put_batch(key, IDENTITY, "m", [(_gen("x"), GenerateResult("y", 1, 1))], 0.1)
    rw.close()
    assert sorted(p.name for p in folder.iterdir()) == ["c.sqlite"]  # closed cleanly: no WAL left
    path.chmod(0o444)
    folder.chmod(0o555)
    try:
        got = _as_nobody(lambda: [c.result.text
                                  for c in ResponseCache(path, "read").get_many(key, [_gen("x")]).values()])
    finally:
        folder.chmod(0o755)
    assert got == "['y']"


def test_served_answers_older_than_max_age_are_sent_again_and_replaced(tmp_path: Path):
    served = ModelInfo(name="s", num_parameters=None, device="remote", dtype="server",  # type: ignore[arg-type]
                       extra={"identity": {"base_url": "http://h/v1", "model": "m"}})
    warnings: list[str] = []
    layer = CacheLayer(tmp_path / "c.sqlite", "readwrite", warnings.append, max_age_s=3600)
    hits, store = layer.lookup("s", "openai:m@http://h/v1", served, [_gen("x")])
    assert hits == {} and store is not None
    store([_gen("x")], [GenerateResult("old", 1, 1)], 0.1)
    hits, _ = layer.lookup("s", "openai:m@http://h/v1", served, [_gen("x")])
    assert [c.result.text for c in hits.values()] == ["old"]
    layer.close()
    # Make the stored answer two hours old.
    db = sqlite3.connect(tmp_path / "c.sqlite")
    db.execute("UPDATE results SET created = ?", (time.time() - 7200,))
    db.commit()
    db.close()
    layer = CacheLayer(tmp_path / "c.sqlite", "readwrite", warnings.append, max_age_s=3600)
    hits, store = layer.lookup("s", "openai:m@http://h/v1", served, [_gen("x")])
    assert hits == {}  # too old: a miss, so the request is sent again
    store([_gen("x")], [GenerateResult("new", 1, 1)], 0.1)
    hits, _ = layer.lookup("s", "openai:m@http://h/v1", served, [_gen("x")])
    assert [c.result.text for c in hits.values()] == ["new"] and warnings == []
    # Without a maximum age, an answer of any age is served (and a local model never expires).
    assert len(CacheLayer(tmp_path / "c.sqlite", "read", warnings.append).lookup(
        "s", "openai:m@http://h/v1", served, [_gen("x")])[0]) == 1


def test_answers_kept_one_by_one_as_they_arrive_then_stored_as_their_batch(tmp_path: Path):
    """A served model's answers are stored the moment each arrives (a kill loses only what is in
    flight); when the group ends they become one batch, as a finished run always stored them."""
    served = ModelInfo(name="s", num_parameters=None, device="remote", dtype="server",  # type: ignore[arg-type]
                       extra={"identity": {"base_url": "http://h/v1", "model": "m"}})
    layer = CacheLayer(tmp_path / "c.sqlite", "readwrite", lambda line: None)
    requests = [_gen(f"q{i}") for i in range(3)]
    _, store = layer.lookup("s", "src", served, requests)
    store.one(requests[0], GenerateResult("a", 1, 1, latency_seconds=0.5))
    store.one(requests[1], GenerateResult("b", 1, 1, latency_seconds=0.7))
    # What a second process (the rerun after a kill) finds now: each answer alone, with its round trip.
    kept = CacheLayer(tmp_path / "c.sqlite", "read", lambda line: None).lookup("s", "src", served, requests)[0]
    assert {r.prompt: (c.batch_size, c.batch_seconds) for r, c in kept.items()} == {"q0": (1, 0.5), "q1": (1, 0.7)}
    store(requests, [GenerateResult(t, 1, 1) for t in "abc"], 0.9)
    hits, _ = CacheLayer(tmp_path / "c.sqlite", "read", lambda line: None).lookup("s", "src", served, requests)
    assert len({c.batch_id for c in hits.values()}) == 1 and store.batch_ids == [hits[requests[0]].batch_id]
    assert [(c.batch_size, c.batch_seconds, c.result.text) for c in hits.values()] == [(3, 0.9, t) for t in "abc"]


def test_cached_peak_memory_reaches_the_measures():
    from pytest_llmselect.cache import Cached
    from pytest_llmselect.engine import Measures

    m = Measures()
    m.add_cached([Cached(GenerateResult("y", 1, 1), "b1", 0.1, 1, peak_memory_bytes=5_000, memory_method="rss"),
                  Cached(GenerateResult("z", 1, 1), "b2", 0.1, 1)])
    assert (m.peak_memory_bytes, m.memory_method, m.cache_hits) == (5_000, "rss", 2)
