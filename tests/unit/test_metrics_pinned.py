"""Metric values and error messages pinned exactly: each message names the metric, the
argument and the offending value with its type (mutants survived there)."""

from __future__ import annotations

import re

import pytest

from pytest_llmselect.errors import SpecError
from pytest_llmselect.metrics import choice_accuracy, contains, exact_match, normalize_text, token_f1


@pytest.mark.parametrize("metric", [exact_match, token_f1, contains])
def test_bad_prediction_and_reference_messages_name_the_metric_and_value(metric):
    name = metric.__name__
    with pytest.raises(SpecError, match=re.escape(f"{name}: `prediction` must be a str, got 3 (int)")):
        metric(3, "a")
    with pytest.raises(SpecError, match=re.escape(
            f"{name}: `reference` must be a str or a sequence of str, got 4.5 (float)")):
        metric("a", 4.5)
    with pytest.raises(SpecError, match=re.escape(f"{name}: `reference` must not be an empty sequence, got [] (list)")):
        metric("a", [])
    with pytest.raises(SpecError, match=re.escape(f"{name}: every reference must be a str, got 7 (int)")):
        metric("a", ["a", 7])


def test_normalize_text_and_contains_messages():
    with pytest.raises(SpecError, match=re.escape("normalize_text: `s` must be a str, got b'x' (bytes)")):
        normalize_text(b"x")  # type: ignore[arg-type]
    with pytest.raises(SpecError, match=re.escape(
            "contains: reference is empty after normalisation, got '?!' (str)")):
        contains("anything", "?!")


def test_choice_accuracy_messages_and_bools():
    with pytest.raises(SpecError, match=re.escape(
            "choice_accuracy: `logprobs` must be a sequence of floats, got 'ab' (str)")):
        choice_accuracy("ab", 0)
    with pytest.raises(SpecError, match=re.escape("choice_accuracy: `logprobs` must not be empty, got () (tuple)")):
        choice_accuracy((), 0)
    with pytest.raises(SpecError, match=re.escape(
            "choice_accuracy: every log-probability must be a non-NaN number, got True (bool)")):
        choice_accuracy([True, -1.0], 0)


@pytest.mark.parametrize(("pred", "ref", "f1"), [
    ("a b", "a c", 0.5),
    ("a b c d", "a", 0.4),
    ("x", "y", 0.0),
    ("", "y", 0.0),
    ("", "", 1.0),
    ("the cat, sat", "cat sat down", 2 / 3),  # no article removal: "the" counts
])
def test_token_f1_exact_values(pred, ref, f1):
    assert token_f1(pred, ref) == pytest.approx(f1)
