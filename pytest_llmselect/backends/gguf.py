"""GGUF files as candidates: dequantised once, cached as an ordinary model folder.

transformers loads a GGUF file itself (``from_pretrained(folder, gguf_file=NAME)``, with the
``gguf`` and ``accelerate`` packages), but slowly: it parses the whole file and dequantises
every tensor on each load (measured in ``benchmarks/bench_gguf.py``). So the first use of a
file converts it: the GGUF-loaded model is rebuilt from its config (a GGUF-loaded model
refuses ``save_pretrained``), its dequantised weights are loaded into it and it is saved
with its tokenizer and chat template as safetensors, in the model cache under the file's
name and the SHA-256 of its content. Later runs load that folder with a plain
``from_pretrained``. The folder is written under a temporary name and renamed into place
once complete, under a lock, so a conversion killed half-way leaves no entry that looks
whole, and two processes converting the same file do it once.

Importing this module is cheap; torch and transformers are imported only to convert.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from pytest_llmselect.backends.gguf_file import GGUFFormatError, GGUFHeader, read_header
from pytest_llmselect.errors import BackendError, MissingDependency, SpecError

__all__ = ["EXTRA", "GGUFSource", "RECORD_FILE", "check_dependencies", "converted_path", "file_sha256",
           "inspect_gguf", "is_converted", "is_gguf_file", "quantization_info", "spec_source"]

#: The extra that brings what a GGUF candidate needs.
EXTRA = "gguf"
RECORD_FILE = "gguf-source.json"
# Bump when the conversion below changes what it writes.
CONVERSION_VERSION = 1
_HASH_CHUNK = 1 << 20
_hash_memo: dict[tuple[str, int, int, int], str] = {}


@dataclass(frozen=True)
class GGUFSource:
    """A checked GGUF file: where it is and what its header says."""

    path: Path
    header: GGUFHeader


def check_dependencies() -> None:
    """``MissingDependency`` naming the extra unless ``gguf`` and ``accelerate`` are importable."""
    missing = [name for name in ("gguf", "accelerate") if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingDependency(f"GGUF candidates need the packages gguf and accelerate ({' and '.join(missing)} "
                                f"{'is' if len(missing) == 1 else 'are'} missing): pip install 'pytest-llmselect[{EXTRA}]'")


def inspect_gguf(path: str | os.PathLike[str], *, shown: str | None = None) -> GGUFSource:
    """The header of the GGUF file at ``path``; a file that cannot be read, is not GGUF or is cut
    short is one ``SpecError`` naming it (``shown``: how the user wrote it)."""
    where = shown or str(path)
    try:
        header = read_header(path)
    except GGUFFormatError as exc:
        raise SpecError(f"GGUF file {where!r} cannot be used: {exc}") from None
    except OSError as exc:
        raise SpecError(f"GGUF file {where!r} cannot be read: {exc.strerror or exc}") from None
    if not header.architecture:
        raise SpecError(f"GGUF file {where!r} cannot be used: it names no general.architecture")
    return GGUFSource(Path(path).resolve(), header)


def is_gguf_file(path: Path) -> bool:
    """A file named ``*.gguf`` or starting with the GGUF magic number."""
    if path.suffix.lower() == ".gguf":
        return True
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"GGUF"
    except OSError:
        return False


def spec_source(path: str | os.PathLike[str], *, shown: str) -> str:
    """For candidate parsing: the absolute path of a usable GGUF file, else one ``SpecError``
    (the extra missing, the file unreadable, not GGUF or cut short)."""
    try:
        check_dependencies()
    except MissingDependency as exc:
        raise SpecError(f"candidate {shown!r}: {exc}") from None
    return str(inspect_gguf(path, shown=shown).path)


def file_sha256(path: Path) -> str:
    """SHA-256 of the file's content, remembered per process by (path, size, mtime, inode)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
    if key not in _hash_memo:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(_HASH_CHUNK):
                digest.update(chunk)
        _hash_memo[key] = digest.hexdigest()
    return _hash_memo[key]


def quantization_info(header: GGUFHeader, path: Path) -> dict[str, Any]:
    """What the report says about where a converted model came from."""
    return {"format": "gguf", "type": header.quantization, "file": path.name,
            "tensor_types": dict(sorted(header.tensor_types.items())),
            "note": f"dequantised from {header.quantization}: figures are this quantised model's, not the original's"}


def _cache_root() -> Path:
    from pytest_llmselect.zoo import cache_dir

    return cache_dir() / "gguf"


def _entry(path: Path) -> Path:
    stem = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in path.stem)[:80]
    return _cache_root() / f"{stem}-{file_sha256(path)[:16]}-v{CONVERSION_VERSION}"


def is_converted(path: str | os.PathLike[str]) -> bool:
    """True when the file's converted folder is in the cache (nothing to convert)."""
    return (_entry(Path(path).resolve()) / RECORD_FILE).is_file()


def converted_path(path: str | os.PathLike[str], *, on_convert: Callable[[Path], None] | None = None) -> Path:
    """The cached model folder converted from the GGUF file at ``path``, converting it first if
    it is not there yet (``on_convert(path)`` is called before a conversion starts). Errors are
    one line naming the file: ``MissingDependency`` or ``BackendError``."""
    check_dependencies()
    source = inspect_gguf(path)
    final = _entry(source.path)
    if (final / RECORD_FILE).is_file():
        return final
    from pytest_llmselect.zoo import _exclusive

    final.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(final.parent / f".{final.name}.lock"):
        if not (final / RECORD_FILE).is_file():  # another process may have converted it meanwhile
            if on_convert is not None:
                on_convert(source.path)
            _convert_into(source, final)
    return final


def _convert_into(source: GGUFSource, final: Path) -> None:
    # We hold the lock, so a temporary folder of this entry is left over from a killed conversion.
    for stale in final.parent.glob(f".tmp-{final.name}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=final.parent))
    tmp.chmod(0o755)
    try:
        cpu, wall = time.process_time(), time.perf_counter()
        _dequantise_and_save(source, tmp)
        record = {
            "file": source.path.name, "sha256": file_sha256(source.path), "bytes": source.header.file_bytes,
            "architecture": source.header.architecture, "conversion_version": CONVERSION_VERSION,
            "quantization": quantization_info(source.header, source.path),
            "convert_seconds": round(time.perf_counter() - wall, 2),
            "convert_cpu_seconds": round(time.process_time() - cpu, 2),
        }
        (tmp / RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        for item in tmp.iterdir():
            item.chmod(0o644)  # save_pretrained writes 0600; the cache may be shared
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _dequantise_and_save(source: GGUFSource, out: Path) -> None:
    # transformers draws a bar per tensor (plain tqdm, which its progress-bar switch does not reach)
    # and one per saved shard: noise under the run's own progress line or in a CI log. Both are
    # switched off where they are drawn, not by redirecting stderr, which is the whole process's
    # (the conversion runs in a thread beside the zoo's build).
    from transformers import modeling_gguf_pytorch_utils as gguf_utils
    from transformers.utils import logging as hf_logging

    bars, drawn = hf_logging.is_progress_bar_enabled(), gguf_utils.tqdm
    hf_logging.disable_progress_bar()
    gguf_utils.tqdm = functools.partial(drawn, disable=True)
    try:
        with _parsed_once():
            _convert_quietly(source, out)
    finally:
        gguf_utils.tqdm = drawn
        if bars:
            hf_logging.enable_progress_bar()


@contextlib.contextmanager
def _parsed_once() -> Iterator[None]:
    """While converting, the ``gguf`` package parses the file once and builds each tensor-name
    map once. transformers parses the whole file three times (the tokenizer, the config, the
    weights: a 49k-entry vocabulary read element by element each time) and builds a name map per
    tensor: two thirds of a conversion's CPU time on SmolLM2 (``benchmarks/bench_smollm2.py``).
    Both are read-only once built. transformers imports these names from ``gguf`` when it loads,
    so they are swapped there and put back after; a ``gguf`` without them converts unchanged."""
    import gguf

    names = ("GGUFReader", "get_tensor_name_map")
    saved = {name: getattr(gguf, name) for name in names if hasattr(gguf, name)}
    if len(saved) < len(names):
        yield
        return
    readers: dict[str, Any] = {}

    def reader(path: Any, *args: Any, **kwargs: Any) -> Any:
        key = str(path)
        if args or kwargs:  # a mode other than reading: not ours to share
            return saved["GGUFReader"](path, *args, **kwargs)
        if key not in readers:
            readers[key] = saved["GGUFReader"](path)
        return readers[key]

    gguf.GGUFReader = reader
    gguf.get_tensor_name_map = functools.lru_cache(maxsize=None)(saved["get_tensor_name_map"])
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(gguf, name, value)


def _convert_quietly(source: GGUFSource, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    where, name = str(source.path.parent), source.path.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, gguf_file=name)
        loaded = AutoModelForCausalLM.from_pretrained(where, gguf_file=name, dtype=torch.float32)
    except (ValueError, KeyError, NotImplementedError, OSError, RuntimeError, IndexError, TypeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if "not supported" in first and source.header.architecture:
            first = (f"its architecture {source.header.architecture!r} is one transformers cannot load from GGUF "
                     f"({first})")
        raise BackendError(f"GGUF file {str(source.path)!r} could not be converted: {first}") from exc
    # A GGUF-loaded model refuses save_pretrained; the same architecture built from its config,
    # without the quantisation marker, holds the dequantised weights and saves normally.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    with torch.device("meta"):
        fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    fresh.load_state_dict(loaded.state_dict(), assign=True)
    fresh.tie_weights()
    fresh.generation_config = loaded.generation_config
    fresh.save_pretrained(out)
    tokenizer.save_pretrained(out)


def load_converted(cand: Any, folder: str, *, device: str | None = None, dtype: str | None = None) -> Any:
    """The transformers backend on the converted ``folder`` of the candidate's GGUF file; its
    model info names the file and the quantisation the weights came from."""
    import dataclasses

    from pytest_llmselect.backends.hf import HFBackend

    backend = HFBackend.load(folder, display_name=cand.name, device=device, dtype=dtype,
                             revision=cand.revision, trust_remote_code=cand.trust_remote_code)
    record = json.loads((Path(folder) / RECORD_FILE).read_text(encoding="utf-8"))
    extra = {**backend.info.extra, "source": cand.source, "converted": folder, "gguf_sha256": record["sha256"],
             "quantization": record["quantization"]}
    backend.info = dataclasses.replace(backend.info, extra=extra)
    return backend
