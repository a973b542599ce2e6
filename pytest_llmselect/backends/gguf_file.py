"""A GGUF file's header, read without loading its tensors: no torch, no numpy.

transformers reads a GGUF file with ``gguf.GGUFReader``, which parses every metadata array
(a 49k-entry vocabulary, its merges) into Python objects and memory-maps every tensor:
seconds, and on a truncated or corrupt file an arbitrary exception from deep inside it.
Before a candidate is accepted we need much less: is this a GGUF file, is it whole, what
architecture and quantisation does it hold. This module answers that from the header
alone (magic, version, metadata key/values, tensor descriptors), checking every length
against the bytes that are really there, so a damaged file is one ``GGUFFormatError``
whose message says what is wrong, and a forged length can never make it allocate.

Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md (versions 2 and 3,
little-endian; version 1 used 32-bit lengths and predates every file in circulation).
"""

from __future__ import annotations

import mmap
import os
import struct
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Mapping

MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
# value type id -> struct format of a scalar; 8 (string) and 9 (array) are handled apart.
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_MAX_DIMS = 8  # GGML_MAX_DIMS is 4; a larger count is corruption, not a bigger model

# ggml tensor type id -> (name, elements per block, bytes per block), from ggml.h / gguf's
# GGML_QUANT_SIZES. Types a file uses that are missing here make its size unknown, not an error.
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 40), 10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292), 16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110), 22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136), 24: ("I8", 1, 1), 25: ("I16", 1, 2), 26: ("I32", 1, 4), 27: ("I64", 1, 8),
    28: ("F64", 1, 8), 29: ("IQ1_M", 256, 56), 30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66), 39: ("MXFP4", 32, 17), 40: ("NVFP4", 64, 36), 41: ("Q1_0", 128, 18),
}
# general.file_type (llama.cpp's LLAMA_FTYPE) -> the quantisation people name the file by.
FILE_TYPES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K", 11: "Q3_K_S",
    12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K",
    19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL",
    26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16",
    36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4_MOE", 39: "NVFP4", 40: "Q1_0",
}


class GGUFFormatError(ValueError):
    """The bytes are not a whole, readable GGUF file; the message says what is wrong (not where
    the file is: the caller adds its path)."""


@dataclass(frozen=True)
class GGUFHeader:
    version: int
    architecture: str | None
    metadata: Mapping[str, Any]            # scalar and string values; arrays as their length
    tensor_types: Mapping[str, int]        # ggml type name -> number of tensors of that type
    tensor_count: int
    data_offset: int                       # where the tensor data starts (the header's aligned end)
    data_bytes: int | None                 # bytes the tensors need from there; None: a type unknown here
    file_bytes: int
    array_lengths: Mapping[str, int] = field(default_factory=dict)

    @property
    def quantization(self) -> str:
        """The file's quantisation as llama.cpp names it (``Q4_1``), from ``general.file_type``;
        without that key, the type holding the most tensors other than F32."""
        ftype = self.metadata.get("general.file_type")
        if isinstance(ftype, int) and not isinstance(ftype, bool) and ftype in FILE_TYPES:
            return FILE_TYPES[ftype]
        quantized = {k: v for k, v in self.tensor_types.items() if k != "F32"}
        if not quantized:
            return "F32" if self.tensor_types else "unknown"
        return max(sorted(quantized), key=lambda k: quantized[k])

    @property
    def context_length(self) -> int | None:
        value = self.metadata.get(f"{self.architecture}.context_length")
        return value if isinstance(value, int) and not isinstance(value, bool) else None


class _Cursor:
    """Reads little-endian values from a buffer, refusing to read past its end."""

    def __init__(self, buf: Any) -> None:
        self.buf, self.pos, self.end = buf, 0, len(buf)

    def need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.end:
            raise GGUFFormatError(f"the file ends inside {what} (at byte {self.pos} of {self.end}): truncated")

    def scalar(self, fmt: str, what: str) -> Any:
        size = struct.calcsize(fmt)
        self.need(size, what)
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return value

    def u32(self, what: str) -> int:
        return int(self.scalar("<I", what))

    def u64(self, what: str) -> int:
        return int(self.scalar("<Q", what))

    def string(self, what: str) -> str:
        n = self.u64(f"the length of {what}")
        self.need(n, what)
        raw = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise GGUFFormatError(f"{what} is not UTF-8 text (at byte {self.pos - n}): corrupt") from None


def _value(cur: _Cursor, vtype: int, key: str, lengths: dict[str, int]) -> Any:
    if vtype in _SCALARS:
        return cur.scalar(_SCALARS[vtype], f"the value of {key!r}")
    if vtype == _STRING:
        return cur.string(f"the value of {key!r}")
    if vtype != _ARRAY:
        raise GGUFFormatError(f"metadata key {key!r} has unknown value type {vtype}: corrupt or a newer GGUF")
    etype = cur.u32(f"the element type of {key!r}")
    count = cur.u64(f"the length of {key!r}")
    if etype in _SCALARS:
        cur.need(count * struct.calcsize(_SCALARS[etype]), f"the array {key!r}")
        cur.pos += count * struct.calcsize(_SCALARS[etype])
    elif etype == _STRING:
        cur.need(count * 8, f"the array {key!r}")  # each string has at least its 8-byte length
        for _ in range(count):
            n = cur.u64(f"a string of {key!r}")
            cur.need(n, f"a string of {key!r}")
            cur.pos += n
    else:  # nested arrays: not written by any converter we know of, and unbounded to skip
        raise GGUFFormatError(f"metadata key {key!r} is an array of type {etype}, which this reader does not skip")
    lengths[key] = count
    return None


def parse_header(buf: Any, file_bytes: int | None = None) -> GGUFHeader:
    """The header of a GGUF file whose bytes (or a prefix of them holding at least the whole
    header) are ``buf``; ``file_bytes`` is the file's whole size (default ``len(buf)``), against
    which the tensors' data is checked. Raises ``GGUFFormatError``."""
    cur = _Cursor(buf)
    total = len(buf) if file_bytes is None else file_bytes
    cur.need(4, "the magic number")
    magic = bytes(buf[0:4])
    if magic != MAGIC:
        raise GGUFFormatError(f"not a GGUF file (starts with {magic!r}, not {MAGIC!r})")
    cur.pos = 4
    version = cur.u32("the version")
    if version == 1 or int.from_bytes(version.to_bytes(4, "little"), "big") in (2, 3):
        raise GGUFFormatError(f"{'GGUF version 1' if version == 1 else 'a big-endian GGUF file'} is not supported "
                              "(versions 2 and 3, little-endian)")
    if version not in (2, 3):
        raise GGUFFormatError(f"unknown GGUF version {version}: corrupt or a newer GGUF")
    tensor_count = cur.u64("the tensor count")
    kv_count = cur.u64("the metadata count")
    cur.need(kv_count * 12, "the metadata")  # key length (8) + value type (4) at least, each
    metadata: dict[str, Any] = {}
    lengths: dict[str, int] = {}
    for _ in range(kv_count):
        key = cur.string("a metadata key")
        vtype = cur.u32(f"the value type of {key!r}")
        value = _value(cur, vtype, key, lengths)
        if value is not None or vtype != _ARRAY:
            metadata[key] = value
    cur.need(tensor_count * 24, "the tensor descriptors")  # name length, n_dims, type, offset
    types: Counter[str] = Counter()
    data_end: int | None = 0
    for i in range(tensor_count):
        name = cur.string(f"the name of tensor #{i}")
        n_dims = cur.u32(f"the dimensions of tensor {name!r}")
        if n_dims > _MAX_DIMS:
            raise GGUFFormatError(f"tensor {name!r} claims {n_dims} dimensions: corrupt")
        elements = 1
        for _ in range(n_dims):
            elements *= cur.u64(f"the shape of tensor {name!r}")
        ttype = cur.u32(f"the type of tensor {name!r}")
        offset = cur.u64(f"the offset of tensor {name!r}")
        known = GGML_TYPES.get(ttype)
        types[known[0] if known else f"type{ttype}"] += 1
        if known is None or data_end is None:
            data_end = None
            continue
        _, block, size = known
        data_end = max(data_end, offset + -(-elements // block) * size)
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or isinstance(alignment, bool) or alignment < 1:
        raise GGUFFormatError(f"general.alignment is {alignment!r}, not a positive integer: corrupt")
    data_start = -(-cur.pos // alignment) * alignment
    if data_end is not None and data_start + data_end > total:
        raise GGUFFormatError(f"its tensors need {data_start + data_end} bytes but the file has {total}: truncated")
    arch = metadata.get("general.architecture")
    return GGUFHeader(version=version, architecture=arch if isinstance(arch, str) else None, metadata=metadata,
                      tensor_types=dict(types), tensor_count=tensor_count, data_offset=data_start,
                      data_bytes=data_end,
                      file_bytes=total, array_lengths=lengths)


def read_header(path: str | os.PathLike[str]) -> GGUFHeader:
    """``parse_header`` of the file at ``path``, memory-mapped (the header is read, not the tensors).
    Raises ``GGUFFormatError`` for a damaged file and ``OSError`` for one that cannot be opened."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            raise GGUFFormatError("the file is empty")
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            with memoryview(mapped) as view:
                return parse_header(view, size)
