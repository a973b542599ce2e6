"""Control characters are inert everywhere, and any text survives every writer (issue 15,
points 9 and 12): ANSI escapes, NUL, bidi overrides and lone surrogates in task names,
candidate names, case ids and outputs are shown escaped in the terminal, Markdown and HTML
reports, and the JSON report and stored run are written and read back."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_llmselect.report import render_html, render_markdown, render_terminal
from pytest_llmselect.report.jsonio import load_report, write_report
from pytest_llmselect.report.terminal import inert
from pytest_llmselect.storage import save_run
from tests.report_samples import HOSTILE_NAME, sample_report

ANSI, NUL, RLO, SURROGATE = "\x1b[31m", "\x00", "\u202e", "\udc80"
DANGEROUS = [chr(c) for c in (*range(0x00, 0x09), *range(0x0b, 0x20), 0x7f, *range(0x80, 0xa0))] + [
    "\u061c", "\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068",
    "\u2069", "\u2028", "\u2029"]


def _hostile(name: str, task: str, case_id: str, output: str) -> dict:
    """The sample report with one candidate, one task, one case id and its outputs replaced."""
    text = json.dumps(sample_report())
    report = json.loads(text.replace(json.dumps(HOSTILE_NAME)[1:-1], json.dumps(name)[1:-1])
                        .replace('"addition"', json.dumps(task)).replace('"add-0001"', json.dumps(case_id)))
    for case in report["cases"]:
        if case["candidate"] == name:
            case["output"] = output
    return report


def _raw_dangerous(text: str, allow: str = "") -> list[str]:
    return sorted({ch for ch in text if (ch in DANGEROUS or "\ud800" <= ch <= "\udfff") and ch not in allow})


def test_ansi_nul_bidi_and_surrogates_are_escaped_in_every_renderer(tmp_path):
    report = _hostile(f"evil{ANSI}{NUL}{RLO}{SURROGATE}", f"task{RLO}x", f"id{ANSI}", f"out{ANSI}\n{RLO}{NUL}")
    for render in (render_terminal, render_markdown, render_html):
        text = render(report)
        assert _raw_dangerous(text, allow="\n") == [], render.__name__
        # shown as visible escapes (Markdown escapes the backslash once more)
        assert all(f"\\{esc}" in text for esc in ("x1b", "u202e", "x00", "udc80")), render.__name__
        text.encode("utf-8")  # nothing unwritable is left
    for name in ("run.json", "run.md", "run.html"):
        write_report(report, tmp_path / name)
    back = load_report(tmp_path / "run.json")
    assert any(c["candidate"].startswith("evil\x1b[31m\x00\u202e") for c in back["cases"])
    assert save_run(report, tmp_path / "runs").is_file()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.text(st.characters(codec=None, exclude_categories=()), min_size=1, max_size=12),
       output=st.text(st.characters(codec=None, exclude_categories=()), max_size=20))
def test_any_text_in_names_and_outputs_is_written_and_inert(tmp_path_factory, name, output):
    report = _hostile(name, "t" + name, "c" + name, output)
    path = tmp_path_factory.mktemp("any")
    for render in (render_terminal, render_markdown):
        assert _raw_dangerous(render(report), allow="\n") == []
    for target in ("run.json", "run.md"):
        write_report(report, path / target)
    load_report(path / "run.json")


def test_inert_keeps_ordinary_text_and_is_idempotent():
    text = "Zürich 東京 emoji \U0001f600 tab\tend"
    assert inert(text) == text.replace("\t", "\\x09")
    assert inert(text, keep_lines=True) == text
    once = inert(f"a{ANSI}b{SURROGATE}")
    assert once == "a\\x1b[31mb\\udc80" and inert(once) == once


@settings(max_examples=500)
@given(st.text(alphabet=st.characters(exclude_categories=()), max_size=30), st.booleans())
def test_the_printable_fast_path_escapes_exactly_what_the_character_loop_does(text, keep_lines):
    """``inert`` returns a printable string as it is; the reference escapes character by character."""
    import unicodedata

    from pytest_llmselect.report.sections.inert import _BIDI

    def reference(t: str) -> str:
        return "".join(ch if (keep_lines and ch in "\n\t") or not (ch in _BIDI or unicodedata.category(ch)
                                                                     in ("Cc", "Cs", "Zl", "Zp"))
                       else (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}") for ch in t)

    assert inert(text, keep_lines=keep_lines) == reference(text)
