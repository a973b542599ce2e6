"""``mentions``: a free-form answer scored by whole words, robust to its phrasing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmselect import mentions
from pytest_llmselect.errors import SpecError
from pytest_llmselect.metrics import METRICS


@pytest.mark.parametrize(("output", "answers", "reject", "score"), [
    ("The capital of Peru is Lima.", ["Lima"], (), 1.0),
    ("Lima", ["lima"], (), 1.0),
    ("Limassol", ["Lima"], (), 0.0),                     # letters are not a word
    ("It has 18 legs", ["8", "eight"], (), 0.0),
    ("A spider has eight legs.", ["8", "eight"], (), 1.0),
    (" New York, and it's", ["New York"], (), 1.0),      # consecutive words
    ("York is new", ["New York"], (), 0.0),
    ("No, the sun is not a star.", ["yes"], ["no"], 0.0),
    ("Yes. No doubt.", ["yes"], ["no"], 0.0),            # a rejected answer beside a right one
    ("Yes, it is.", ["yes"], ["no"], 1.0),
    ("", ["Paris"], (), 0.0),
])
def test_examples(output: str, answers: list[str], reject: tuple[str, ...], score: float) -> None:
    assert mentions(output, answers, reject=reject) == score


def test_is_a_built_in_binary_metric() -> None:
    metric = METRICS["mentions"]
    assert metric.binary and metric.higher_is_better and metric.fn is mentions


@pytest.mark.parametrize("bad", ["", "  ", "?!"])
def test_an_answer_without_words_is_refused(bad: str) -> None:
    with pytest.raises(SpecError, match="no words"):
        mentions("anything", [bad])
    with pytest.raises(SpecError, match="rejected answer"):
        mentions("anything", ["x"], reject=[bad])


words = st.text(alphabet="abcdefghij", min_size=1, max_size=6)


@given(before=st.lists(words, max_size=5), answer=st.lists(words, min_size=1, max_size=3),
       after=st.lists(words, max_size=5), punct=st.sampled_from(["", ".", ",", "!", "'"]))
def test_an_answer_among_any_words_is_found(before, answer, after, punct) -> None:
    output = " ".join(before + [w.upper() if i % 2 else w for i, w in enumerate(answer)]) + punct + " " + " ".join(after)
    assert mentions(output, " ".join(answer)) == 1.0


@given(text=st.lists(words, max_size=8), answer=words)
def test_found_exactly_when_its_words_are_there(text, answer) -> None:
    assert mentions(" ".join(text), answer) == (1.0 if answer in text else 0.0)
    assert mentions(" ".join(text), answer, reject=[answer]) == 0.0
