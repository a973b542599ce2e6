"""Demonstration pools, configurations and the strategies that need no extra."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmselect.candidates import for_task, parse_candidates, with_demo_configs
from pytest_llmselect.demos import DemoPool, choose_shots, normalize_input, parse_demo_config, parse_demo_configs
from pytest_llmselect.demos.config import DemoConfig, missing_extra
from pytest_llmselect.demos.strategies import ordered
from pytest_llmselect.errors import DataError, SpecError


def pool_rows(n: int = 30, labels: str = "AB") -> list[dict]:
    return [{"id": f"p{i}", "input": f"word{i % 10} {i}", "label": labels[i % len(labels)]} for i in range(n)]


def make_pool(rows=None, **kw) -> DemoPool:
    return DemoPool(rows if rows is not None else pool_rows(), template="{input}={label}\n", label="label", **kw)


def test_config_names_and_defaults():
    cfgs = parse_demo_configs("random:4, knn:8,mmr:2:as_drawn,none")
    assert [c.name for c in cfgs] == ["random:4", "knn:8", "mmr:2:as_drawn", "none"]
    assert cfgs[1].effective_order() == "similar_last" and cfgs[0].effective_order() == "as_drawn"
    assert cfgs[2].effective_order() == "as_drawn"
    assert parse_demo_configs("") == ()


@pytest.mark.parametrize("text, message", [
    ("knn", "expected STRATEGY:K"), ("knn:x", "k must be a whole number"), ("knn:0", "between 1 and 64"),
    ("cosine:4", "unknown strategy 'cosine'"), ("knn:4:sideways", "order must be"),
    ("knn:4,,random:2", "empty configuration"), ("knn:4,knn:4", "given twice"), ("none:3", "takes no k"),
])
def test_bad_configs_name_the_option_and_value(text, message):
    with pytest.raises(SpecError, match=message) as info:
        parse_demo_configs(text)
    assert str(info.value).startswith("--llm-demos:") and "\n" not in str(info.value)


@given(st.text(max_size=30))
def test_config_parser_fuzz_raises_only_spec_errors(text):
    try:
        cfgs = parse_demo_configs(text)
    except SpecError as exc:
        assert "\n" not in str(exc).strip() or "\n" in text
    else:
        assert all(parse_demo_config(c.name) == c for c in cfgs)  # the name round-trips


def test_configurations_are_model_major_candidates():
    cands = with_demo_configs(parse_candidates("zoo:tiny,zoo:base"), parse_demo_configs("random:4,knn:4"))
    assert [c.name for c in cands] == ["zoo:tiny", "zoo:tiny+random:4", "zoo:tiny+knn:4",
                                       "zoo:base", "zoo:base+random:4", "zoo:base+knn:4"]
    assert [c.model_name for c in cands] == ["zoo:tiny"] * 3 + ["zoo:base"] * 3
    assert cands[2].demos == DemoConfig("knn", 4) and cands[0].demos is None


def test_a_task_without_a_pool_runs_each_model_once():
    cands = with_demo_configs(parse_candidates("zoo:tiny,zoo:base"), parse_demo_configs("random:4,knn:4"))
    assert [c.name for c in for_task(cands, has_pool=False)] == ["zoo:tiny", "zoo:base"]
    assert [c.name for c in for_task(cands, has_pool=True)] == [
        "zoo:tiny+random:4", "zoo:tiny+knn:4", "zoo:base+random:4", "zoo:base+knn:4"]
    plain = parse_candidates("zoo:tiny,zoo:base")  # no --llm-demos: every task runs every candidate
    assert for_task(plain, has_pool=True) == for_task(plain, has_pool=False) == plain


def test_missing_extra_is_one_line_naming_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "bm25s", None)
    problem = missing_extra(parse_demo_configs("random:2,bm25:4"))
    assert problem is not None and "pytest-llmselect[demos]" in problem and "bm25s" in problem
    assert missing_extra(parse_demo_configs("random:2,first:1,balanced:2")) is None


def test_normalize_input():
    assert normalize_input("  Paris\tIS \n") == "paris is"
    assert normalize_input("ＡＢ") == "ab"  # NFKC folds full-width letters


def test_pool_rejects_bad_data(tmp_path):
    with pytest.raises(DataError, match="duplicate id 'a'"):
        make_pool([{"id": "a", "input": "x", "label": 1}, {"id": "a", "input": "y", "label": 1}])
    with pytest.raises(SpecError, match="cannot be filled"):
        DemoPool([{"id": "a", "input": "x"}], template="{input}={answer}")
    with pytest.raises(DataError, match="field 'input' must be a string"):
        make_pool([{"id": "a", "input": 3, "label": 1}])
    bad = tmp_path / "pool.jsonl"
    bad.write_text('{"id": "a", "input": "x", "label": "A"}\n{oops\n')
    with pytest.raises(DataError, match=r"pool.jsonl:2: invalid JSON"):
        make_pool(bad)


def test_fingerprint_follows_contents():
    rows = pool_rows()
    assert make_pool(rows).fingerprint == make_pool([dict(r) for r in rows]).fingerprint
    rows[3]["label"] = "Z"
    assert make_pool(rows).fingerprint != make_pool(pool_rows()).fingerprint


@pytest.mark.parametrize("spec", ["first:4", "random:4", "balanced:4", "random:30", "first:64"])
def test_a_case_never_receives_itself_or_a_duplicate(spec):
    rows = pool_rows() + [{"id": "dup", "input": "WORD3  3", "label": "A"}]  # duplicate of p3's input
    pool = make_pool(rows)
    cases = [("p3", "word3 3"), ("c9", "Word3 3"), (None, "unrelated")]
    shots = choose_shots(pool, parse_demo_config(spec), cases)
    for (cid, _), s in zip(cases, shots):
        assert "p3" not in s.ids and "dup" not in s.ids if cid != None else True  # noqa: E711
        assert len(set(s.ids)) == len(s.ids)
    assert len(shots[2].ids) == min(parse_demo_config(spec).k, len(rows))
    assert len(shots[0].ids) == min(parse_demo_config(spec).k, len(rows) - 2)


@given(st.lists(st.sampled_from(["a b", "A  b", "c", "d e", "f"]), min_size=1, max_size=12),
       st.integers(1, 6), st.sampled_from(["first", "random", "balanced"]), st.integers(0, 3))
def test_exclusion_and_k_hold_for_any_pool(inputs, k, strategy, seed):
    rows = [{"id": f"r{i}", "input": t, "label": "xy"[i % 2]} for i, t in enumerate(inputs)]
    pool = make_pool(rows)
    queries = [(f"r{i}", t) for i, t in enumerate(inputs)] + [(None, "zzz")]
    for (cid, q), s in zip(queries, choose_shots(pool, DemoConfig(strategy, k), queries, seed=seed)):
        banned = {r["id"] for r in rows if normalize_input(r["input"]) == normalize_input(q)} | {cid}
        assert not banned & set(s.ids)
        assert len(s.ids) == min(k, len(rows) - len(banned - {None}))


def test_random_is_seeded_per_case_and_differs_between_cases():
    pool = make_pool(pool_rows(200))
    cases = [(f"c{i}", f"q{i}") for i in range(5)]
    a = choose_shots(pool, DemoConfig("random", 4), cases, seed=1)
    b = choose_shots(pool, DemoConfig("random", 4), list(reversed(cases)), seed=1)
    assert [s.ids for s in a] == [s.ids for s in reversed(b)]
    assert len({s.ids for s in a}) > 1
    assert [s.ids for s in choose_shots(pool, DemoConfig("random", 4), cases, seed=2)] != [s.ids for s in a]


def test_balanced_takes_labels_in_turn_and_needs_a_label():
    pool = make_pool(pool_rows(40, labels="ABCD"))
    for s in choose_shots(pool, DemoConfig("balanced", 8), [(None, "x"), ("p0", "word0 0")]):
        labels = [ex["label"] for ex in s.examples]
        assert sorted(labels) == sorted("ABCD" * 2)
    with pytest.raises(SpecError, match="label"):
        choose_shots(DemoPool(pool_rows(), template="{input}"), DemoConfig("balanced", 2), [(None, "x")])


def test_first_and_rendering():
    pool = make_pool(pool_rows(5))
    (s,) = choose_shots(pool, DemoConfig("first", 2, "as_drawn"), [(None, "q")])
    assert s.ids == ("p0", "p1") and s.text == "word0 0=A\nword1 1=B\n" and s + "q=" == s.text + "q="
    (s,) = choose_shots(pool, DemoConfig("first", 2), [(None, "q")])
    assert s.ids == ("p0", "p1")  # not a similarity strategy: as drawn by default
    (none,) = choose_shots(pool, DemoConfig("none", 0), [(None, "q")])
    assert none.ids == () and none.text == ""


def test_similar_last_orders_by_ascending_similarity():
    assert ordered(([7, 3, 9], [0.9, 0.5, 0.7]), "similar_last") == [3, 9, 7]
    assert ordered(([7, 3, 9], [0.9, 0.5, 0.7]), "as_drawn") == [7, 3, 9]
    assert ordered(([7, 3, 9], [0.5, 0.5, 0.5]), "similar_last") == [9, 3, 7]  # ties: best-ranked last


def test_query_of_needs_the_field():
    pool = make_pool()
    assert pool.query_of({"input": "hello"}) == "hello"
    with pytest.raises(DataError, match="no field 'input'"):
        pool.query_of({"prompt": "x"})
    assert make_pool(query=lambda case: case["q"].upper()).query_of({"q": "a"}) == "A"


def test_lookup_task_data_is_current_and_answerable_only_from_the_pool():
    import random

    from pytest_llmselect.zoo import lookup

    from pytest_llmselect.zoo.make_lookup_data import main as make_lookup_data

    assert make_lookup_data(["--check"]) == 0  # examples/fewshot/data matches the generator
    pool, cases = lookup.lookup_pool(), lookup.lookup_eval()
    pool_inputs = {normalize_input(r["input"]) for r in pool}
    labels_by_word: dict[str, set[str]] = {}
    for r in pool:
        labels_by_word.setdefault(r["input"].split()[0], set()).add(r["label"])
    for case in cases:
        assert normalize_input(case["input"]) not in pool_inputs  # never a duplicate of a pool example
        assert labels_by_word[case["input"].split()[0]] == {case["answer"]}  # the pool holds the answer
    # Training never shows a word the suite asks about, so no label can be memorised.
    asked = {c["input"].split()[0] for c in cases}
    rng = random.Random(0)
    for _ in range(200):
        ex = lookup.lookup_train(rng)
        lines = ex.prompt.split("\n")
        query_word = lines[-1].split()[0]
        assert query_word not in asked
        assert any(line.split()[0] == query_word and line.endswith("=" + ex.target.strip()) for line in lines[:-1])


def test_joint_table_pivots_configurations_by_model():
    from pytest_llmselect.report.terminal import render_terminal, task_tables

    cands = [{"name": f"{m}+{c}", "model": m, "demos": c} for m in ("zoo:a", "zoo:b") for c in ("random:4", "knn:4")]
    results = [{"candidate": c["name"], "n": 10, "quality": q, "lo": q - 0.1, "hi": q + 0.1, "cost": 1.0,
                "objective": 1.0, "loss": 1 - q} for c, q in zip(cands, (0.25, 0.9, 0.3, 0.95))]
    task = {"name": "lookup", "results": results, "selection": {"selected": "zoo:b+knn:4"}}
    report = {"candidates": cands, "tasks": [task], "settings": {"level": 0.95}}
    (joint,) = [t for t in task_tables(task, report) if t.title.startswith("Demonstrations side by side")]
    assert joint.headers == ("demonstrations", "zoo:a", "zoo:b")
    assert [r[0] for r in joint.rows] == ["random:4", "knn:4"]
    assert joint.rows[1][2] == "* 0.950 [0.850, 1.050]" and joint.rows[1][1] == "0.900 [0.800, 1.000]"
    assert joint.highlight == (False, True)
    text = render_terminal(report)
    assert "Demonstrations side by side" in text
    # Every row's interval ends in the same column (a new user saw the selected row's shifted).
    rows = [line for line in text.splitlines() if line.lstrip("→ ").startswith(("random:4", "knn:4"))]
    assert len(rows) == 2 and len({line.rstrip().rfind("]") for line in rows}) == 1, rows
    # Candidates without configurations get no such table.
    plain = {"candidates": [{"name": "zoo:a"}], "tasks": [], "settings": {}}
    assert not [t for t in task_tables({**task, "results": results[:1]}, plain)
                if t.title.startswith("Demonstrations")]


def test_xdist_scope_keeps_a_models_configurations_on_one_worker():
    from pytest_llmselect.candidates import Candidate
    from pytest_llmselect.run.xdist import item_scopes, scope_of
    from pytest_llmselect.run.plan import ITEM_CANDIDATE

    class Item:  # what item_scopes reads of a collected item: its node id, name and candidate
        def __init__(self, cand: Candidate) -> None:
            self.nodeid, self.name, self.stash = f"suite.py::test_x[{cand.name}-case-1]", "test_x", {
                ITEM_CANDIDATE: cand}

    cands = [Candidate(name=f"{m}+{cfg}", spec=m, kind="zoo", source=m[4:], model=m)
             for m, cfg in (("zoo:tiny", "random:4"), ("zoo:tiny", "knn:4"), ("zoo:base", "knn:4"))]
    scopes = item_scopes([Item(c) for c in cands], {c.name: c.model_name for c in cands})
    assert {c.name: scope_of(f"suite.py::test_x[{c.name}-case-1]", scopes) for c in cands} == {
        "zoo:tiny+random:4": "llm-candidate:zoo:tiny", "zoo:tiny+knn:4": "llm-candidate:zoo:tiny",
        "zoo:base+knn:4": "llm-candidate:zoo:base"}
    assert scope_of("suite.py::test_other", scopes) == "suite.py"  # not a candidate's item: its module


class _TableEmbedder:
    """Fixed unit vectors per text: the strategies' arithmetic without a model."""

    def __init__(self, texts: list[str], dim: int = 6, seed: int = 0) -> None:
        import numpy as np

        rng = np.random.default_rng(seed)
        vectors = rng.normal(size=(len(texts), dim)).astype("float32")
        self.table = {t: v / np.linalg.norm(v) for t, v in zip(texts, vectors)}

    def encode(self, texts):
        import numpy as np

        return np.stack([self.table[t] for t in texts])


@given(st.integers(0, 50), st.integers(1, 6), st.sampled_from([0.0, 0.3, 0.5, 1.0]))
def test_knn_and_mmr_match_a_plain_reference(seed, k, lambda_):
    import numpy as np

    from pytest_llmselect.demos.strategies import Knn, Mmr

    rows = pool_rows(25)
    queries = [f"q{i}" for i in range(7)] + ["word3 3"]
    emb = _TableEmbedder([r["input"] for r in rows] + queries, seed=seed)
    pool = make_pool(rows)
    exclude = [pool.excluded(q, None) for q in queries]
    P = emb.encode(pool.inputs)
    knn = Knn(pool, emb).choose(queries, queries, k, exclude)
    mmr = Mmr(pool, emb, lambda_=lambda_).choose(queries, queries, k, exclude)
    for q, excl, (kn, _), (mm, _) in zip(queries, exclude, knn, mmr):
        sims = P @ emb.encode([q])[0]
        order = [i for i in np.argsort(-sims, kind="stable") if i not in excl]
        assert kn == [int(i) for i in order[:k]]
        cands, chosen = [int(i) for i in order[:4 * k]], []
        while len(chosen) < min(k, len(cands)):
            def score(i):
                red = max((float(P[i] @ P[j]) for j in chosen), default=0.0)
                return lambda_ * float(sims[i]) - (1 - lambda_) * red
            chosen.append(max((i for i in cands if i not in chosen), key=lambda i: (score(i), -cands.index(i))))
        assert mm == chosen


_values = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8))


@given(st.lists(st.dictionaries(st.sampled_from(["id", "input", "label", "x"]), _values, max_size=4), max_size=6),
       st.sampled_from(["{input}={label}\n", "{input}", "{x}", "{0}", "{input", "plain"]))
def test_pool_rows_fuzz_either_load_or_name_the_problem(rows, template):
    from pytest_llmselect.errors import LLMSelectError

    try:
        pool = DemoPool(rows, template=template, label="label")
    except LLMSelectError as exc:
        message = str(exc)
        assert message.startswith("DemoPool") and "\n" not in message.replace(repr(template), "")
    else:
        assert len(pool) == len(rows) > 0
        assert len({ex.id for ex in pool.examples}) == len(rows)
        assert pool.render(range(len(pool))) == "".join(template.format(**r) for r in rows)


def test_a_missing_hub_model_is_named_once_for_all_its_configurations(monkeypatch):
    from pytest_llmselect.preflight import check_hub_candidates

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cands = with_demo_configs(parse_candidates("nobody-here/no-such-model"), parse_demo_configs("random:4,knn:4"))
    with pytest.raises(SpecError) as caught:
        check_hub_candidates(cands)
    assert str(caught.value).startswith("nobody-here/no-such-model: not in the local Hugging Face cache")
    assert str(caught.value).count("no-such-model") == 1
