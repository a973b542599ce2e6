from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmselect.errors import SpecError
from pytest_llmselect.metrics import (
    METRICS,
    Metric,
    choice_accuracy,
    contains,
    exact_match,
    normalize_text,
    token_f1,
)

texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
words = st.lists(st.sampled_from(["a", "cat", "sat", "on", "the", "mat", "42", "Paris"]), max_size=8)


class TestNormalizeText:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("  The  Answer!\n", "the answer"),
            ("'3.14'", "3.14"),
            ("e-mail", "e-mail"),
            ("\tHello,\t  World. ", "hello, world"),
            ("...", ""),
            ("北京。", "北京"),
            ("", ""),
        ],
    )
    def test_examples(self, raw: str, expected: str) -> None:
        assert normalize_text(raw) == expected

    @given(texts)
    def test_idempotent(self, s: str) -> None:
        once = normalize_text(s)
        assert normalize_text(once) == once

    @given(texts)
    def test_no_edge_whitespace_or_double_spaces(self, s: str) -> None:
        out = normalize_text(s)
        assert out == out.strip()
        assert "  " not in out
        assert out == out.lower()

    def test_rejects_non_str(self) -> None:
        with pytest.raises(SpecError, match="`s`.*None.*NoneType"):
            normalize_text(None)  # type: ignore[arg-type]


class TestExactMatch:
    def test_normalised_by_default(self) -> None:
        assert exact_match("Paris.", "paris") == 1.0
        assert exact_match("Paris.", "paris", normalize=False) == 0.0
        assert exact_match("London", "paris") == 0.0

    def test_any_reference(self) -> None:
        assert exact_match("NYC", ["New York", "nyc"]) == 1.0
        assert exact_match("LA", ["New York", "nyc"]) == 0.0

    def test_errors(self) -> None:
        with pytest.raises(SpecError, match="reference"):
            exact_match("x", [])
        with pytest.raises(SpecError, match="prediction.*3.*int"):
            exact_match(3, "3")  # type: ignore[arg-type]

    @given(texts)
    def test_reflexive(self, s: str) -> None:
        assert exact_match(s, s) == 1.0
        assert exact_match(s, s, normalize=False) == 1.0


class TestTokenF1:
    def test_squad_example(self) -> None:
        # 3 shared tokens, precision 3/3, recall 3/6: F1 = 2 * 1 * 0.5 / 1.5.
        assert token_f1("the cat sat", "The cat sat on the mat.") == pytest.approx(2 / 3)

    def test_repeated_tokens_count_once_per_occurrence(self) -> None:
        # pred tokens: the x2; ref: the x1 -> common 1, P=1/2, R=1.
        assert token_f1("the the", "the") == pytest.approx(2 * 0.5 * 1 / 1.5)

    def test_empty(self) -> None:
        assert token_f1("", "") == 1.0
        assert token_f1("...", "") == 1.0
        assert token_f1("", "x") == 0.0
        assert token_f1("x", "") == 0.0

    def test_edge_punctuation_of_tokens(self) -> None:
        assert token_f1("cat, dog", "dog cat") == 1.0

    def test_max_over_references(self) -> None:
        assert token_f1("a b", ["c", "a b"]) == 1.0

    @given(words, words)
    def test_bounded_and_symmetric(self, a: list[str], b: list[str]) -> None:
        x, y = " ".join(a), " ".join(b)
        f = token_f1(x, y)
        assert 0.0 <= f <= 1.0
        assert f == pytest.approx(token_f1(y, x))

    @given(words, st.lists(st.lists(st.sampled_from(["a", "cat", "mat", "dog"]), max_size=4).map(" ".join), min_size=1, max_size=4))
    def test_multi_reference_is_max(self, pred: list[str], refs: list[str]) -> None:
        p = " ".join(pred)
        assert token_f1(p, refs) == max(token_f1(p, r) for r in refs)

    @given(words)
    def test_identity(self, a: list[str]) -> None:
        assert token_f1(" ".join(a), " ".join(reversed(a))) == 1.0


class TestContains:
    def test_examples(self) -> None:
        assert contains("The answer is Paris.", "paris") == 1.0
        assert contains("The answer is Lyon.", "paris") == 0.0
        assert contains("x", ["y", "X"]) == 1.0

    def test_empty_reference_is_an_error(self) -> None:
        with pytest.raises(SpecError, match="empty"):
            contains("anything", " . ")

    @given(texts, texts)
    def test_implied_by_exact_match(self, a: str, b: str) -> None:
        if normalize_text(b) and exact_match(a, b):
            assert contains(a, b) == 1.0


class TestChoiceAccuracy:
    def test_argmax(self) -> None:
        assert choice_accuracy([-3.0, -0.5, -2.0], 1) == 1.0
        assert choice_accuracy([-3.0, -0.5, -2.0], 0) == 0.0

    def test_accepts_numpy(self) -> None:
        np = pytest.importorskip("numpy")
        assert choice_accuracy(np.array([-2.0, -0.1], dtype=np.float32), np.int64(1)) == 1.0

    def test_ties_go_to_first_index(self) -> None:
        assert choice_accuracy([-1.0, -1.0, -1.0], 0) == 1.0
        assert choice_accuracy([-1.0, -1.0, -1.0], 2) == 0.0
        assert choice_accuracy([float("-inf"), -2.0, -2.0], 1) == 1.0

    @pytest.mark.parametrize(
        ("logprobs", "answer", "match"),
        [
            ([], 0, "logprobs"),
            ([0.0, float("nan")], 0, "nan"),
            ([0.0, -1.0], 2, "answer.*2"),
            ([0.0, -1.0], True, "answer.*True.*bool"),
            ("ab", 0, "logprobs"),
        ],
    )
    def test_errors(self, logprobs: object, answer: object, match: str) -> None:
        with pytest.raises(SpecError, match=match):
            choice_accuracy(logprobs, answer)  # type: ignore[arg-type]

    @given(st.lists(st.floats(-50, 0), min_size=1, max_size=6))
    def test_exactly_one_index_scores(self, logprobs: list[float]) -> None:
        scores = [choice_accuracy(logprobs, i) for i in range(len(logprobs))]
        assert sorted(scores)[-1] == 1.0 and sum(scores) == 1.0
        winner = scores.index(1.0)
        assert logprobs[winner] == max(logprobs)
        assert all(x < logprobs[winner] for x in logprobs[:winner])


def test_registry() -> None:
    assert set(METRICS) >= {"exact_match", "token_f1", "contains", "choice_accuracy"}
    for name, metric in METRICS.items():
        assert isinstance(metric, Metric) and metric.name == name and metric.description
        assert metric.higher_is_better
    assert METRICS["exact_match"].binary and not METRICS["token_f1"].binary
    assert METRICS["token_f1"].fn("a b", "a b") == 1.0
    with pytest.raises(AttributeError):
        METRICS["exact_match"].binary = False  # type: ignore[misc]
