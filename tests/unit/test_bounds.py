"""Bounded outputs: cut to what max_tokens allows, flagged, priced at most at the limit."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pytest_llmselect.bounds import CHARS_PER_TOKEN, bound_answer, cap_stored


def test_a_five_megabyte_answer_to_five_tokens_is_cut_and_flagged():
    b = bound_answer("x" * 5_000_000, 5_000_000, 5)
    assert len(b.text) == 5 * CHARS_PER_TOKEN and b.output_tokens == 5 and b.full_chars == 5_000_000
    assert b.cut is not None and "max_tokens=5" in b.cut


def test_a_server_that_miscounts_its_tokens_is_clipped_and_flagged():
    b = bound_answer("short", 900, 5)
    assert (b.text, b.output_tokens) == ("short", 5) and "900 output tokens" in b.cut


@given(text=st.text(max_size=300), tokens=st.integers(0, 50), limit=st.integers(1, 20))
def test_within_the_limit_nothing_changes_beyond_it_the_limit_holds(text, tokens, limit):
    b = bound_answer(text, tokens, limit)
    assert len(b.text) <= max(len(text), 0) and b.output_tokens <= max(tokens, 0)
    assert b.output_tokens <= limit or b.cut is None and tokens <= limit
    within = tokens <= limit and len(text) <= limit * CHARS_PER_TOKEN
    assert (b.cut is None) == within and (b.text == text) == (within or len(text) <= limit * CHARS_PER_TOKEN)
    assert text.startswith(b.text)


@given(text=st.text(max_size=100), limit=st.integers(0, 50))
def test_stored_outputs_are_capped_with_the_full_length(text, limit):
    kept, full = cap_stored(text, limit)
    assert len(kept) <= limit and text.startswith(kept)
    assert full == (len(text) if len(text) > limit else None)
