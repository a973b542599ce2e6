"""knn, mmr (real all-MiniLM-L6-v2 embeddings) and bm25 (bm25s), plus the embedding cache.

Needs the ``demos`` extra (CI installs it); skipped, saying so, without it.
"""

from __future__ import annotations

import pytest

pytest.importorskip("sentence_transformers", reason="needs the demos extra: pip install 'pytest-llmselect[demos]'")
pytest.importorskip("bm25s", reason="needs the demos extra: pip install 'pytest-llmselect[demos]'")

from pytest_llmselect.demos import DemoConfig, DemoPool, choose_shots  # noqa: E402
from pytest_llmselect.demos.embed import Embedder, embeddings_dir  # noqa: E402

ROWS = [
    {"id": "cat1", "input": "the cat sat on the mat", "label": "animal"},
    {"id": "cat2", "input": "a kitten sleeps on a rug", "label": "animal"},
    {"id": "dog1", "input": "the dog barked at the mailman", "label": "animal"},
    {"id": "car1", "input": "the car needs new tyres", "label": "vehicle"},
    {"id": "car2", "input": "an automobile with a flat tire", "label": "vehicle"},
    {"id": "fin1", "input": "interest rates rose again this quarter", "label": "finance"},
    {"id": "fin2", "input": "the central bank raised interest rates", "label": "finance"},
    {"id": "self", "input": "my car has a flat tyre", "label": "vehicle"},
]


@pytest.fixture(scope="module")
def embedder(tmp_path_factory) -> Embedder:
    mp = pytest.MonkeyPatch()
    mp.setenv("LLMSELECT_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    yield Embedder()
    mp.undo()


def pool() -> DemoPool:
    return DemoPool(ROWS, template="{input} -> {label}\n", label="label")


def test_knn_finds_meaning_not_words_and_puts_the_nearest_last(embedder):
    (shots,) = choose_shots(pool(), DemoConfig("knn", 2), [("self", "my car has a flat tyre")], embedder=embedder)
    assert set(shots.ids) == {"car1", "car2"}  # "self" is the case itself: never chosen
    (drawn,) = choose_shots(pool(), DemoConfig("knn", 2, "as_drawn"), [("self", "my car has a flat tyre")],
                            embedder=embedder)
    assert drawn.ids == tuple(reversed(shots.ids))  # as drawn: most similar first


def test_bm25_is_lexical():
    (shots,) = choose_shots(pool(), DemoConfig("bm25", 1), [(None, "interest rates")])
    assert shots.ids[0] in {"fin1", "fin2"}
    (other,) = choose_shots(pool(), DemoConfig("bm25", 3), [(None, "MY CAR HAS A FLAT TYRE")])
    assert "self" not in other.ids  # same normalised input: a duplicate of the case


def test_mmr_trades_relevance_for_diversity(embedder):
    query = [(None, "kittens and cats")]
    (knn,) = choose_shots(pool(), DemoConfig("knn", 3), query, embedder=embedder)
    (mmr,) = choose_shots(pool(), DemoConfig("mmr", 3), query, embedder=embedder)
    labels = {r["id"]: r["label"] for r in ROWS}
    assert len({labels[i] for i in mmr.ids}) >= len({labels[i] for i in knn.ids})
    assert labels[mmr.ids[-1]] == "animal"  # the most relevant still comes last


def test_pool_embeddings_are_cached_on_disk_by_contents(embedder):
    texts = [r["input"] + " (cache test)" for r in ROWS]  # not embedded by the tests above
    before = embedder.encoded
    first = embedder.encode(texts)
    assert embedder.encoded == before + len(texts)
    files = set(embeddings_dir().glob("*.npy"))
    again = Embedder().encode(texts)  # a new process would load the same file
    assert (again == first).all() and set(embeddings_dir().glob("*.npy")) == files
    changed = embedder.encode(texts[:-1] + ["something else entirely"])
    assert embedder.encoded == before + 2 * len(texts) and len(set(embeddings_dir().glob("*.npy"))) == len(files) + 1
    assert first.shape == (len(texts), 384) and abs(float((first[0] ** 2).sum()) - 1) < 1e-4
    assert not (changed[-1] == first[-1]).all()


def test_bm25_batched_scoring_agrees_with_bm25s_retrieve():
    import random

    from pytest_llmselect.demos.strategies import Bm25

    rng = random.Random(0)
    vocab = [f"w{i}x" for i in range(60)]
    texts = [" ".join(rng.choice(vocab) for _ in range(rng.randint(2, 9))) for _ in range(300)]
    queries = [" ".join(rng.choice(vocab) for _ in range(rng.randint(1, 5))) for _ in range(40)]
    bm25 = Bm25(DemoPool([{"id": str(i), "input": t} for i, t in enumerate(texts)], template="{input}"))
    exclude = [{i} for i in range(len(queries))]  # exclusion honoured on both paths
    fast = bm25.choose(queries, [str(i) for i in range(len(queries))], 5, exclude)
    tokens = bm25.tokenizer.tokenize(queries, update_vocab=False, return_as="ids", show_progress=False)
    slow = bm25._retrieve(tokens, 5, exclude)
    for (fast_ids, fast_scores), (slow_ids, slow_scores), excl in zip(fast, slow, exclude):
        assert fast_scores == pytest.approx(slow_scores, rel=1e-5)  # same ranking (ids may swap on ties)
        assert not excl & set(fast_ids) and len(fast_ids) == 5
