"""The zoo's task generators, suite data files, recipe hashing and cache layout.

Fast and torch-free: model training is monkeypatched out where the cache logic is tested.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import pytest_llmselect.zoo as zoo
from pytest_llmselect.zoo import tasks
from pytest_llmselect.zoo.make_suite_data import DEFAULT_OUT, render
from pytest_llmselect.zoo.recipes import RECIPES

REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- eval cases


@pytest.mark.parametrize("family", tasks.FAMILIES)
def test_eval_cases_are_deterministic_sized_and_unique(family: str) -> None:
    first, second = tasks.eval_cases(family), tasks.eval_cases(family)
    assert first == second
    assert len(first) == tasks.EVAL_SIZES[family]
    assert len({c.id for c in first}) == len(first)
    key = (lambda c: c.context) if family == "largest" else (lambda c: c.prompt)
    assert len({key(c) for c in first}) == len(first)


def test_addition_format_and_answers() -> None:
    for case in tasks.addition_eval():
        match = re.fullmatch(r"(\d{1,2})\+(\d{1,2})=", case.prompt)
        assert match, case
        assert case.answer == str(int(match[1]) + int(match[2]))
        assert "\n" not in case.answer


def test_largest_format_and_answers() -> None:
    for case in tasks.largest_eval():
        match = re.fullmatch(r"largest of (\d\d) (\d\d) (\d\d) (\d\d):", case.context)
        assert match, case
        numbers = [int(g) for g in match.groups()]
        assert len(set(numbers)) == 4
        assert case.choices == tuple(f" {n}" for n in numbers)
        assert int(case.choices[case.answer]) == max(numbers)


def test_multiples_format_and_answers() -> None:
    for case in tasks.multiples_eval():
        match = re.fullmatch(r"multiples of (\d+) below (\d+):", case.prompt)
        assert match, case
        n, limit = int(match[1]), int(match[2])
        assert case.answer == "".join(f" {m}" for m in range(n, limit, n))
        assert len(case.answer.split()) in tasks.MULT_COUNT


# --------------------------------------------------------------------------- train/eval disjointness


def test_addition_training_pool_excludes_eval_pairs_and_their_twins() -> None:
    held = {(int(a), int(b)) for a, b in (c.prompt[:-1].split("+") for c in tasks.addition_eval())}
    pool = set(tasks.addition_train_pairs())
    for a, b in held:
        assert (a, b) not in pool and (b, a) not in pool
    # Everything else stays available: the pool is all pairs minus the held-out ones.
    assert len(pool) + len(held | {(b, a) for a, b in held}) == (tasks.ADD_MAX + 1) ** 2


@pytest.mark.parametrize("family", tasks.FAMILIES)
def test_training_stream_never_yields_an_eval_case(family: str) -> None:
    cases = tasks.eval_cases(family)
    if family == "largest":
        held = {frozenset(int(x) for x in c.context.split(" ", 2)[2][:-1].split()) for c in cases}
        for ex in itertools.islice(tasks.training_stream(family, seed=0), 20_000):
            assert frozenset(int(x) for x in ex.prompt.split(" ", 2)[2][:-1].split()) not in held
    else:
        held_prompts = {c.prompt for c in cases}
        for ex in itertools.islice(tasks.training_stream(family, seed=0), 20_000):
            assert ex.prompt not in held_prompts


@pytest.mark.parametrize("family", tasks.FAMILIES)
def test_training_examples_end_with_the_stop_string(family: str) -> None:
    for ex in itertools.islice(tasks.training_stream(family, seed=3), 200):
        assert ex.family == family
        assert ex.target.endswith(tasks.ANSWER_END) and ex.target.count(tasks.ANSWER_END) == 1


def test_training_stream_is_seeded() -> None:
    def take(seed: int) -> list[tasks.TrainingExample]:
        return list(itertools.islice(tasks.training_stream("largest", seed), 50))

    assert take(1) == take(1)
    assert take(1) != take(2)


def test_unknown_family_names_the_valid_ones() -> None:
    with pytest.raises(KeyError, match="addition, largest, multiples"):
        tasks.eval_cases("subtraction")
    with pytest.raises(KeyError, match="addition, largest, multiples"):
        next(tasks.training_stream("subtraction", 0))


# --------------------------------------------------------------------------- suite data files


@pytest.mark.parametrize("family", tasks.FAMILIES)
def test_suite_data_files_are_current(family: str) -> None:
    path = DEFAULT_OUT / f"{family}.jsonl"
    assert path == REPO / "suites" / "data" / f"{family}.jsonl"
    assert path.read_text(encoding="utf-8") == render(family), (
        "suites/data is stale: run python -m pytest_llmselect.zoo.make_suite_data"
    )


@pytest.mark.parametrize(
    ("family", "fields"),
    [
        ("addition", ["id", "prompt", "answer"]),
        ("largest", ["id", "context", "choices", "answer"]),
        ("multiples", ["id", "prompt", "answer"]),
    ],
)
def test_suite_data_fields(family: str, fields: list[str]) -> None:
    rows = [json.loads(line) for line in render(family).splitlines()]
    assert all(list(row) == fields for row in rows)
    if family == "largest":
        assert all(isinstance(r["answer"], int) and len(r["choices"]) == 4 for r in rows)
    else:
        assert all(isinstance(r["answer"], str) for r in rows)


def test_make_suite_data_writes_identical_files(tmp_path: Path) -> None:
    from pytest_llmselect.zoo.make_suite_data import main

    assert main(["--out", str(tmp_path)]) == 0
    first = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert main(["--out", str(tmp_path)]) == 0
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == first
    assert main(["--out", str(tmp_path), "--check"]) == 0
    (tmp_path / "addition.jsonl").write_text("{}\n")
    assert main(["--out", str(tmp_path), "--check"]) == 1


# --------------------------------------------------------------------------- token F1


def test_token_f1_examples() -> None:
    assert tasks.token_f1(" 7 14 21", " 7 14 21") == 1.0
    assert tasks.token_f1(" 7 14", " 7 14 21 28") == pytest.approx(2 * 1.0 * 0.5 / 1.5)
    assert tasks.token_f1(" 8 16", " 7 14") == 0.0
    assert tasks.token_f1("", "") == 1.0
    assert tasks.token_f1("", " 7") == 0.0


tokens = st.lists(st.sampled_from(["7", "14", "21", "28", "35"]), max_size=6).map(" ".join)


@given(tokens, tokens)
def test_token_f1_is_symmetric_and_bounded(a: str, b: str) -> None:
    score = tasks.token_f1(a, b)
    assert 0.0 <= score <= 1.0
    assert score == pytest.approx(tasks.token_f1(b, a))
    if sorted(a.split()) == sorted(b.split()):
        assert score == 1.0


# --------------------------------------------------------------------------- recipes and cache


def test_zoo_names_and_recipes_agree() -> None:
    assert zoo.ZOO_NAMES == ("tiny", "small", "base", "wide", "small-undertrained")
    assert set(RECIPES) == set(zoo.ZOO_NAMES)


def test_recipe_ordering_matches_the_zoo_story() -> None:
    def size(name: str) -> int:
        r = RECIPES[name]
        return r.n_layer * r.n_embd * (r.n_embd + (r.n_inner or 4 * r.n_embd))

    assert size("tiny") < size("small") < size("base") < size("wide")
    assert RECIPES["wide"].steps < RECIPES["small"].steps
    undertrained, small = RECIPES["small-undertrained"], RECIPES["small"]
    assert (undertrained.n_layer, undertrained.n_embd) == (small.n_layer, small.n_embd)
    assert undertrained.steps < small.steps


def test_recipe_hash_is_stable_and_distinct() -> None:
    hashes = {name: zoo.recipe_hash(name) for name in zoo.ZOO_NAMES}
    assert all(re.fullmatch(r"[0-9a-f]{12}", h) for h in hashes.values())
    assert len(set(hashes.values())) == len(hashes)
    assert hashes == {name: zoo.recipe_hash(name) for name in zoo.ZOO_NAMES}


def test_recipe_hash_follows_data_and_code_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    import pytest_llmselect.zoo.recipes as recipes

    before = zoo.recipe_hash("small")
    monkeypatch.setattr(recipes, "DATA_VERSION", recipes.DATA_VERSION + 1)
    assert zoo.recipe_hash("small") != before
    monkeypatch.undo()
    monkeypatch.setattr(recipes, "CODE_VERSION", recipes.CODE_VERSION + 1)
    assert zoo.recipe_hash("small") != before


@pytest.mark.parametrize("library", ["torch", "transformers"])
def test_recipe_hash_follows_the_torch_and_transformers_versions(monkeypatch: pytest.MonkeyPatch,
                                                                 library: str) -> None:
    # Same recipe, another library version: the weights may differ, so the cache entry must.
    import pytest_llmselect.zoo.recipes as recipes

    before = zoo.recipe_hash("small")
    installed = dict(recipes.library_versions())
    assert installed[library] != "missing"
    changed = tuple((name, "0.0.1" if name == library else version) for name, version in installed.items())
    monkeypatch.setattr(recipes, "library_versions", lambda: changed)
    assert zoo.recipe_hash("small") != before


def test_unknown_name_raises_key_error_listing_valid_names() -> None:
    for call in (lambda: zoo.zoo_path("huge"), lambda: zoo.recipe_hash("huge"), lambda: zoo.zoo_path("huge", build=False)):
        with pytest.raises(KeyError) as info:
            call()
        message = str(info.value)
        assert "'huge'" in message and all(name in message for name in zoo.ZOO_NAMES)


def test_cache_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LLMSELECT_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert zoo.cache_dir() == tmp_path / "home" / ".cache" / "pytest-llmselect"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert zoo.cache_dir() == tmp_path / "xdg" / "pytest-llmselect"
    monkeypatch.setenv("LLMSELECT_CACHE_DIR", str(tmp_path / "explicit"))
    assert zoo.cache_dir() == tmp_path / "explicit"


@pytest.fixture
def fake_build(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """Point the cache at tmp_path and replace training with a slow, counted fake."""
    monkeypatch.setenv("LLMSELECT_CACHE_DIR", str(tmp_path))
    calls: list[str] = []

    def build_into(name: str, final: Path, on_step=None) -> None:
        calls.append(name)
        if on_step is not None:
            on_step(1, 1, 0.0)
        tmp = final.parent / f".tmp-{final.name}-fake"
        tmp.mkdir()
        threading.Event().wait(0.2)  # long enough for the other threads to pile up on the lock
        (tmp / zoo.RECIPE_FILE).write_text(json.dumps({"name": name}))
        tmp.rename(final)

    monkeypatch.setattr(zoo, "_build_into", build_into)
    return calls


def test_zoo_path_layout_and_build_false(fake_build: list[str], tmp_path: Path) -> None:
    path = zoo.zoo_path("tiny", build=False)
    assert path == tmp_path / "zoo" / f"tiny-{zoo.recipe_hash('tiny')}"
    assert not path.exists() and fake_build == []


def test_zoo_path_builds_once_then_reuses(fake_build: list[str]) -> None:
    first = zoo.zoo_path("small")
    assert zoo.read_build_record(first) == {"name": "small"}
    assert zoo.zoo_path("small") == first
    assert fake_build == ["small"]


def test_concurrent_callers_build_once(fake_build: list[str]) -> None:
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(zoo.zoo_path("base"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fake_build == ["base"]
    assert len(set(results)) == 1 and len(results) == 4


def test_build_many_builds_what_is_missing_longest_first_with_events(fake_build: list[str]) -> None:
    from pytest_llmselect.zoo.build import build_many

    zoo.zoo_path("tiny")  # already cached: no events, no second build
    fake_build.clear()
    events = []
    paths = build_many(["tiny", "small", "base"], jobs=1, on_event=events.append)
    assert fake_build == ["base", "small"]  # the longest recipe starts first
    assert [(e.kind, e.name) for e in events] == [
        ("start", "base"), ("step", "base"), ("end", "base"), ("start", "small"), ("step", "small"), ("end", "small")]
    assert set(paths) == {"tiny", "small", "base"} and all(zoo.read_build_record(p) for p in paths.values())
    with pytest.raises(KeyError, match="huge"):
        build_many(["small", "huge"])


def test_zoo_jobs_come_from_the_environment_or_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_llmselect.errors import SpecError
    from pytest_llmselect.zoo.build import default_jobs

    monkeypatch.delenv("LLMSELECT_ZOO_JOBS", raising=False)
    assert default_jobs() >= 1
    monkeypatch.setenv("LLMSELECT_ZOO_JOBS", "3")
    assert default_jobs() == 3
    for bad in ("0", "-1", "two", "1.5"):
        monkeypatch.setenv("LLMSELECT_ZOO_JOBS", bad)
        with pytest.raises(SpecError, match=f"LLMSELECT_ZOO_JOBS must be a positive integer, got '{re.escape(bad)}'"):
            default_jobs()


def test_importing_the_zoo_is_cheap() -> None:
    code = "import sys, pytest_llmselect.zoo; print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"
