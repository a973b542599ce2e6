"""The GGUF header reader: the real SmolLM2 file, files the gguf package writes, and any
damage (cut short, bytes changed, random bytes) as one GGUFFormatError, never another
exception and never an allocation sized by a forged length."""

from __future__ import annotations

import mmap
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.gguf_kit import smollm2_file, write_gguf
from pytest_llmselect.backends.gguf_file import FILE_TYPES, GGML_TYPES, GGUFFormatError, parse_header, read_header

gguf = pytest.importorskip("gguf")


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> bytes:
    return write_gguf(tmp_path_factory.mktemp("gguf") / "small.gguf", quant="Q8_0", tensors=3).read_bytes()


def test_the_real_smollm2_file() -> None:
    header = read_header(smollm2_file())
    assert (header.version, header.architecture, header.quantization) == (3, "llama", "Q4_1")
    assert header.tensor_types == {"Q4_1": 210, "Q8_0": 1, "F32": 61}
    assert header.context_length == 8192
    assert header.metadata["general.license"] == "apache-2.0"
    assert header.array_lengths["tokenizer.ggml.tokens"] == 49152
    # The tensors end within the file's last alignment padding: the size check is tight.
    assert 0 <= header.file_bytes - (header.data_offset + header.data_bytes) < 32


def test_our_type_tables_agree_with_the_gguf_package() -> None:
    for type_id, (name, block, size) in GGML_TYPES.items():
        qtype = gguf.GGMLQuantizationType(type_id)
        assert qtype.name == name
        assert gguf.GGML_QUANT_SIZES[qtype] == (block, size)
    for ftype, name in FILE_TYPES.items():
        assert gguf.LlamaFileType(ftype).name.removeprefix("MOSTLY_").removeprefix("ALL_") == name


def test_a_written_file_reads_back(small: bytes) -> None:
    header = parse_header(small)
    assert header.architecture == "llama" and header.metadata["general.name"] == "tiny test model"
    assert header.tensor_types == {"Q8_0": 3} and header.quantization == "Q8_0"
    assert header.array_lengths == {"tokenizer.ggml.tokens": 4}


@pytest.mark.parametrize(("data", "says"), [
    (b"", "ends inside the magic"),
    (b"PK\x03\x04rest of a zip", "not a GGUF file"),
    (b"GGUF" + struct.pack("<I", 1) + bytes(16), "version 1 is not supported"),
    (b"GGUF" + struct.pack(">I", 3) + bytes(16), "big-endian"),
    (b"GGUF" + struct.pack("<I", 99) + bytes(16), "unknown GGUF version 99"),
    # A forged metadata count far beyond the file: refused before any loop or allocation.
    (b"GGUF" + struct.pack("<IQQ", 3, 0, 2**62), "truncated"),
    (b"GGUF" + struct.pack("<IQQ", 3, 2**62, 0), "truncated"),
])
def test_damaged_headers_say_what_is_wrong(data: bytes, says: str) -> None:
    with pytest.raises(GGUFFormatError, match=says):
        parse_header(data)


def test_an_empty_file_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "empty.gguf").write_bytes(b"")
    with pytest.raises(GGUFFormatError, match="empty"):
        read_header(tmp_path / "empty.gguf")


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=0, max_value=10**9))
def test_every_cut_short_copy_is_refused(small: bytes, cut: int) -> None:
    header = parse_header(small)
    n = cut % (header.data_offset + header.data_bytes)
    with pytest.raises(GGUFFormatError):
        parse_header(small[:n])


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1, max_size=8))
def test_changed_bytes_give_a_header_or_one_format_error(small: bytes, edits: list[tuple[int, int]]) -> None:
    data = bytearray(small)
    for pos, value in edits:
        data[pos % parse_header(small).data_offset] = value  # inside the header, where the parser reads
    try:
        parse_header(bytes(data))
    except GGUFFormatError as exc:
        assert str(exc) and "\n" not in str(exc)


@settings(max_examples=300)
@given(tail=st.binary(max_size=200), version=st.sampled_from([2, 3]))
def test_random_bytes_after_a_valid_start_never_escape(tail: bytes, version: int) -> None:
    try:
        parse_header(b"GGUF" + struct.pack("<I", version) + tail)
    except GGUFFormatError:
        pass


def test_the_real_file_cut_anywhere_in_its_header_or_tensors_is_refused(tmp_path: Path) -> None:
    source = smollm2_file()
    with open(source, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        header = parse_header(mapped)
        for n in (5, 100, 4096, header.data_offset - 1, header.data_offset + 1000, header.file_bytes - 40):
            with memoryview(mapped) as view, pytest.raises(GGUFFormatError, match="truncated"):
                parse_header(view[:n])
