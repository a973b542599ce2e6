"""Inert text: every string of a report made safe to print before any section renders it."""

from __future__ import annotations

from typing import Any, Mapping

# Bidi embeddings/overrides/isolates and marks: they reorder what a reader sees (Trojan Source).
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_OUTPUT_KEYS = frozenset({"output"})  # model outputs keep their line breaks and tabs


def inert(text: str, keep_lines: bool = False) -> str:
    """``text`` with every character that could act on a terminal or reorder what a reader
    sees written as a visible escape: C0/C1 controls (ESC, NUL, DEL ...), bidi controls,
    line/paragraph separators and lone surrogates (``\\x1b``, ``\\u202e``, ``\\udc80``).
    ``keep_lines`` keeps newlines and tabs (for multi-line model outputs)."""
    if text.isprintable():  # no Cc, Cs, Zl, Zp nor Cf (every bidi control is Cf): nothing to escape
        return text
    import unicodedata

    out = []
    for ch in text:
        code = ord(ch)
        if keep_lines and ch in "\n\t":
            out.append(ch)
        elif ch in _BIDI or unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp"):
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def inert_report(obj: Any, key: str = "") -> Any:
    """A copy of a report with ``inert`` applied to every string, keys included; every
    renderer starts from it, so no field can reach a terminal or page raw."""
    if isinstance(obj, str):
        return inert(obj, keep_lines=key in _OUTPUT_KEYS)
    if isinstance(obj, Mapping):
        return {inert(k) if isinstance(k, str) else k: inert_report(v, str(k)) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [inert_report(v, key) for v in obj]
    return obj
