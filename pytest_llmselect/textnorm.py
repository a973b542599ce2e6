"""The one normal form text is compared in: duplicate detection and task names.

``normalize_text`` applies Unicode NFKC (compatibility forms and NFC/NFD spellings become
one) and removes the default-ignorable code points (zero-width space and joiners, soft
hyphen, word joiner, byte-order mark, variation selectors, bidi controls, tags: characters
a renderer shows as nothing), repeated until nothing changes, so the result is a fixed point.
Two strings with the same normal form look the same; that is what makes two demonstrations
one and two task names one task. The set of default-ignorable code points comes from the
``regex`` module's Unicode tables (``\\p{Default_Ignorable_Code_Point}``), not a list of ours.
"""

from __future__ import annotations

import unicodedata

import regex

__all__ = ["normalize_text"]

_IGNORABLE = regex.compile(r"\p{Default_Ignorable_Code_Point}+")


def normalize_text(text: str) -> str:
    """``text`` in NFKC with every default-ignorable code point removed (see the module docstring)."""
    out = text
    for _ in range(8):  # removing an ignorable can let NFKC compose more: twice is the most seen
        nxt = unicodedata.normalize("NFKC", _IGNORABLE.sub("", out))
        if nxt == out:
            return out
        out = nxt
    return out
