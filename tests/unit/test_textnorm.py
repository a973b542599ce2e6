"""One normal form for comparing text: NFKC plus removal of default-ignorable code points, used
by the demonstrations' duplicate guard and by task names."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_llmselect.demos.pool import DemoPool, normalize_input
from pytest_llmselect.tasks import task_from_marker
from pytest_llmselect.textnorm import normalize_text

INVISIBLE = ["\u200b", "\u00ad", "\u200d", "\u2060", "\ufeff", "\u200e", "\ufe0f", "\U000e0041"]


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=40))
def test_normal_form_is_a_fixed_point_and_holds_no_ignorable(text):
    once = normalize_text(text)
    assert normalize_text(once) == once
    assert unicodedata.is_normalized("NFKC", once)
    assert not any(c in once for c in INVISIBLE)


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=30), st.sampled_from(INVISIBLE),
       st.integers(0, 30))
def test_an_invisible_character_anywhere_changes_nothing(text, mark, at):
    at = min(at, len(text))
    assert normalize_text(text[:at] + mark + text[at:]) == normalize_text(text)


def test_nfc_and_nfd_are_one():
    assert normalize_text("caf\u00e9") == normalize_text("cafe\u0301") == "caf\u00e9"


@pytest.mark.parametrize("mark", ["\u200b", "\u00ad", "\u2060"])
def test_a_near_duplicate_demonstration_is_excluded_from_its_case(mark):
    """Found by a trial: demonstrations that differed from a case by a zero-width space or a soft
    hyphen passed the leakage guard, and knn handed each case its own answer."""
    pool = DemoPool([{"id": "a", "input": f"What is the cap{mark}ital of France?", "output": "Paris"},
                     {"id": "b", "input": "What is 2+2?", "output": "4"}], template="{input} {output}\n")
    assert pool.excluded("What is the capital of France?", None) == {0}
    assert normalize_input(f"Par{mark}is") == normalize_input("paris")


def test_two_task_names_that_render_alike_are_one_task():
    nfc = task_from_marker(("caf\u00e9",), {}, "default")
    nfd = task_from_marker(("cafe\u0301",), {}, "default")
    zw = task_from_marker(("caf\u200b\u00e9",), {}, "default")
    assert nfc.name == nfd.name == zw.name


def test_a_task_name_of_only_invisible_characters_is_refused():
    from pytest_llmselect.errors import SpecError

    with pytest.raises(SpecError, match="non-empty"):
        task_from_marker(("\u200b\u00ad",), {}, "default")


def test_a_pool_smaller_than_k_is_clipped_in_one_place_and_says_so():
    """Found by a trial: a pool of 6 under knn:10 was still labelled knn:10 without a word."""
    from pytest_llmselect.demos import choose_shots, clip_k, parse_demo_config

    pool = DemoPool([{"id": str(i), "input": f"q{i}", "output": str(i)} for i in range(6)], template="{input} {output}\n")
    config = parse_demo_config("random:10")
    assert clip_k(config, pool)[0] == 6
    (shots,) = choose_shots(pool, config, [("x", "a new question")])
    assert len(shots) == 6 and shots.clipped is not None and "at most 6" in shots.clipped and "6 example" in shots.clipped
    (fits,) = choose_shots(pool, parse_demo_config("random:4"), [("x", "a new question")])
    assert len(fits) == 4 and fits.clipped is None
