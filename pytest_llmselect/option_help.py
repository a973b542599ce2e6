"""Each option's help line says its default, as ``pytest --help`` readers expect."""

from __future__ import annotations

import re
from typing import Any


def with_default(help_text: str, default: Any) -> str:
    """``help_text`` with ``(default: X)`` appended, unless the text already names its default.

    An empty default reads ``none``; a flag's ``False`` reads ``off``."""
    if re.search(r"\bdefault\b", help_text, re.IGNORECASE):
        return help_text
    if default is None or default == "" or default == []:
        shown = "none"
    elif default is False:
        shown = "off"
    else:
        shown = str(default)
    return f"{help_text} (default: {shown})"
