"""Demonstration selection speed: choosing k demonstrations for many cases from a large pool,
and embedding a pool the first time, beside sentence-transformers' own ``encode``.

    python benchmarks/bench_demos.py --pool 10000 --cases 1000 --k 8 --repeats 5

Pool and cases are synthetic sentences (a seeded mix of a few hundred words), so the run
needs nothing but the ``demos`` extra. Selection is timed with the pool's embeddings
already cached (what every run after the first pays); embedding is timed separately and
reported in examples per second, ours (the plugin's Embedder: one thread, no disk cache)
against ``SentenceTransformer.encode`` with its defaults, interleaved, medians of the repeats.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time


def sentences(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    vocab = [f"{a}{b}{c}" for a in "bdfgklmnprstvz" for b in "aeiou" for c in "lmnrst"][:400]
    return [" ".join(rng.choice(vocab) for _ in range(rng.randint(4, 12))) + f" {i}" for i in range(n)]


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pool", type=int, default=10_000)
    parser.add_argument("--cases", type=int, default=1_000)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--embed-texts", type=int, default=1_000, help="texts in the embedding-speed comparison")
    parser.add_argument("--cache-dir", default=None,
                        help="embedding cache (default: a fresh temporary one, so the first embedding is timed)")
    args = parser.parse_args()
    os.environ["LLMSELECT_CACHE_DIR"] = args.cache_dir or tempfile.mkdtemp(prefix="bench-demos-")

    from pytest_llmselect.demos import DemoConfig, DemoPool
    from pytest_llmselect.demos.embed import Embedder
    from pytest_llmselect.demos.strategies import make_strategy

    pool_texts, case_texts = sentences(args.pool, 1), sentences(args.cases, 2)
    pool = DemoPool([{"id": f"p{i}", "input": t, "label": str(i % 4)} for i, t in enumerate(pool_texts)],
                    template="{input} => {label}\n", label="label")
    ids = [f"c{i}" for i in range(args.cases)]
    exclude = [pool.excluded(t, cid) for cid, t in zip(ids, case_texts)]
    embedder = Embedder()

    start = time.perf_counter()
    embedder.encode(pool_texts)
    embedder.encode(case_texts)
    first = time.perf_counter() - start
    how = "from the disk cache" if embedder.encoded == 0 else f"{embedder.encoded / first:.1f} examples/s"
    print(f"embedding pool + cases ({args.pool + args.cases} texts): {first:.1f} s ({how}); cached on disk after")

    print(f"\nk={args.k} for {args.cases} cases from a {args.pool}-example pool, embeddings cached, "
          f"median of {args.repeats}:")
    print(f"  {'strategy':<8} {'fit s':>8} {'choose s':>9}   (fit: load cached embeddings / build the BM25 index)")
    for name in ("knn", "bm25", "mmr", "random"):
        fits, chooses = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            strategy = make_strategy(DemoConfig(name, args.k), pool, embedder=embedder)
            fits.append(time.perf_counter() - start)
            start = time.perf_counter()
            strategy.choose(case_texts, ids, args.k, exclude)
            chooses.append(time.perf_counter() - start)
        print(f"  {name:<8} {statistics.median(fits):8.3f} {statistics.median(chooses):9.3f}")

    # Embedding speed, interleaved: ours (Embedder: encode in one thread) against
    # sentence-transformers' encode with its defaults and with one thread.
    import torch

    texts = sentences(args.embed_texts, 3)
    model = embedder._load()
    default_threads = torch.get_num_threads()
    timings: dict[str, list[float]] = {"ours": [], "st_default": [], "st_1thread": []}
    for _ in range(args.repeats):
        start = time.perf_counter()
        embedder.encode_uncached(texts)
        timings["ours"].append(time.perf_counter() - start)
        start = time.perf_counter()
        model.encode(texts, normalize_embeddings=True, show_progress_bar=False)
        timings["st_default"].append(time.perf_counter() - start)
        torch.set_num_threads(1)
        start = time.perf_counter()
        model.encode(texts, normalize_embeddings=True, show_progress_bar=False)
        timings["st_1thread"].append(time.perf_counter() - start)
        torch.set_num_threads(default_threads)
    med = {k: statistics.median(v) for k, v in timings.items()}
    print(f"\nembedding {len(texts)} texts (no cache), interleaved, median of {args.repeats}:")
    print(f"  ours (Embedder, 1 thread)                       {len(texts) / med['ours']:8.1f} examples/s")
    print(f"  SentenceTransformer.encode, {default_threads} threads (default)    "
          f"{len(texts) / med['st_default']:8.1f} examples/s   ours/theirs {med['st_default'] / med['ours']:.2f}")
    print(f"  SentenceTransformer.encode, 1 thread            {len(texts) / med['st_1thread']:8.1f} examples/s"
          f"   ours/theirs {med['st_1thread'] / med['ours']:.2f}")


if __name__ == "__main__":
    main()
