"""The converted-model cache: keyed by content, written atomically, and every failure one
line naming the file. The conversion itself is replaced by a stand-in here (the real one is
tested on SmolLM2 in tests/acceptance/test_gguf_model.py) except where transformers must
refuse an architecture."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.gguf_kit import write_gguf
from pytest_llmselect.backends import gguf as gguf_cache
from pytest_llmselect.errors import BackendError

pytest.importorskip("gguf")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("LLMSELECT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def fake_conversion(source, out: Path) -> None:
    (out / "config.json").write_text("{}", encoding="utf-8")


def entries(cache: Path) -> list[str]:
    return sorted(p.name for p in (cache / "gguf").iterdir() if not p.name.endswith(".lock"))


def test_entries_are_keyed_by_content_not_by_name(cache: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(gguf_cache, "_dequantise_and_save", fake_conversion)
    a = write_gguf(tmp_path / "a.gguf", tensors=2)
    first = gguf_cache.converted_path(a)
    record = json.loads((first / gguf_cache.RECORD_FILE).read_text(encoding="utf-8"))
    assert record["sha256"] == gguf_cache.file_sha256(a) and record["quantization"]["type"] == "Q8_0"
    converted = []
    monkeypatch.setattr(gguf_cache, "_dequantise_and_save", lambda s, o: converted.append(s) or fake_conversion(s, o))
    assert gguf_cache.converted_path(a) == first and not converted  # found, not converted again
    os.utime(a, (1, 1))  # a new mtime, same content: same entry
    assert gguf_cache.converted_path(a) == first and not converted
    b = write_gguf(tmp_path / "b" / "a.gguf", tensors=3)  # same name, other content: its own entry
    assert gguf_cache.converted_path(b) != first and len(converted) == 1


def test_a_failed_conversion_leaves_nothing(cache: Path, tmp_path: Path, monkeypatch) -> None:
    def half_then_interrupted(source, out: Path) -> None:
        (out / "model.safetensors").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(gguf_cache, "_dequantise_and_save", half_then_interrupted)
    path = write_gguf(tmp_path / "m.gguf")
    with pytest.raises(KeyboardInterrupt):
        gguf_cache.converted_path(path)
    assert entries(cache) == [] and not gguf_cache.is_converted(path)


def test_a_killed_conversion_leaves_no_entry_and_the_next_run_converts(cache: Path, tmp_path: Path,
                                                                      monkeypatch) -> None:
    path = write_gguf(tmp_path / "m.gguf")
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from pytest_llmselect.backends import gguf
        def slow(source, out):
            (out / "model.safetensors").write_bytes(b"half")
            print("writing", flush=True)
            time.sleep(120)
        gguf._dequantise_and_save = slow
        gguf.converted_path({str(path)!r})
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    left = entries(cache)
    assert len(left) == 1 and left[0].startswith(".tmp-")  # only the temporary folder
    assert not gguf_cache.is_converted(path)
    monkeypatch.setattr(gguf_cache, "_dequantise_and_save", fake_conversion)
    done = gguf_cache.converted_path(path)
    assert entries(cache) == [done.name]  # converted, and the killed run's leftovers removed
    assert sorted(p.name for p in done.iterdir()) == ["config.json", gguf_cache.RECORD_FILE]


def test_an_architecture_transformers_cannot_load_names_the_file(cache: Path, tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    path = write_gguf(tmp_path / "odd.gguf", architecture="nonesuch")
    started = time.perf_counter()
    with pytest.raises(BackendError) as info:
        gguf_cache.converted_path(path)
    message = str(info.value)
    assert str(path) in message and "'nonesuch'" in message and "cannot load from GGUF" in message
    assert "\n" not in message and entries(cache) == []
    assert time.perf_counter() - started < 120
