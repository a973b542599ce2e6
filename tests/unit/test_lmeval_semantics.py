"""The importer's prompt and scoring pieces against lm-eval's own, where lm-eval is installed,
and against hand-worked values everywhere."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_llmselect.lmeval import scoring
from pytest_llmselect.lmeval.config import FilterPipeline, MetricSpec, load_task
from pytest_llmselect.lmeval.prompt import Renderer, Sampler, apply_template, fewshot_context
from pytest_llmselect.lmeval.yamlfile import LmevalError


def task_file(tmp_path: Path, text: str):
    path = tmp_path / "t.yaml"
    path.write_text(text, encoding="utf-8")
    return load_task(path)


def test_jinja_is_strict_and_has_regex_replace(tmp_path: Path) -> None:
    assert apply_template("{{ q | regex_replace('\\s+', ' ') }}?\n", {"q": "a  b\tc"}) == "a b c?\n"
    task = task_file(tmp_path, "task: t\ndoc_to_text: '{{ missing }}'\ntest_split: test\n")
    with pytest.raises(LmevalError, match=r"doc_to_text '\{\{ missing \}\}': UndefinedError: 'missing' is undefined"):
        Renderer(task, ["q"]).text({"q": "x"})


def test_doc_to_fields_follow_lm_eval(tmp_path: Path) -> None:
    task = task_file(tmp_path, """
task: t
output_type: multiple_choice
test_split: test
doc_to_text: "{{q}}"
doc_to_target: "{{label}}"
doc_to_choice: "{{ opts }}"
""")
    render = Renderer(task, ["q", "label", "opts"])
    doc = {"q": "Q", "label": 2, "opts": ["a", "b", "c"]}
    assert render.text(doc) == "Q"
    assert render.target(doc) == 2  # all digits with doc_to_choice: an index
    assert render.choice(doc) == ["a", "b", "c"]  # the rendered list, read back as Python
    gen = task_file(tmp_path, "task: g\ntest_split: test\ndoc_to_text: q\ndoc_to_target: \"{{ answers }}\"\n")
    render = Renderer(gen, ["q", "answers"])
    assert render.text({"q": "field", "answers": []}) == "field"  # a column name reads the column
    assert render.target({"q": "x", "answers": ["p", "q"]}) == ["p", "q"]  # "[...]" becomes a list


def test_context_with_description_demonstrations_and_gen_prefix(tmp_path: Path) -> None:
    task = task_file(tmp_path, """
task: t
output_type: multiple_choice
test_split: test
fewshot_split: train
num_fewshot: 2
description: "Pick.\\n\\n"
doc_to_text: "Q: {{q}}"
doc_to_target: label
doc_to_choice: ["no", "yes"]
fewshot_config:
  sampler: first_n
""")
    pool = [{"q": "a", "label": 1}, {"q": "b", "label": 0}, {"q": "c", "label": 1}]
    render = Renderer(task, ["q", "label"])
    ctx = fewshot_context(task, render, {"q": "z", "label": 0}, Sampler(task.fewshot, pool), False, pool.index)
    assert ctx.contexts == ("Pick.\n\nQ: a yes\n\nQ: b no\n\nQ: z",)
    assert ctx.demo_ids == (0, 1)


needs_lm_eval = pytest.mark.skipif(importlib.util.find_spec("lm_eval") is None, reason="lm-eval is not installed")


@needs_lm_eval
@settings(max_examples=200, deadline=None)
@given(template=st.text(alphabet=st.sampled_from(list("{}%|ab x_-'\"()+0123\n")), max_size=30),
       value=st.one_of(st.text(max_size=5), st.integers(), st.lists(st.text(max_size=3), max_size=3)))
def test_templates_render_as_lm_eval_renders_them(template: str, value: object) -> None:
    from lm_eval.utils import apply_template as reference

    doc = {"a": value, "b": "B"}
    try:
        expected = reference(template, doc)
    except Exception as exc:  # noqa: BLE001 - whatever lm-eval raises, we must raise too
        with pytest.raises(type(exc)):
            apply_template(template, doc)
    else:
        assert apply_template(template, doc) == expected


@needs_lm_eval
@settings(max_examples=100, deadline=None)
@given(pool_size=st.integers(3, 12), n=st.integers(0, 2), docs=st.integers(1, 8), same_split=st.booleans(),
       first_n=st.booleans())
def test_samplers_draw_what_lm_evals_draw(pool_size: int, n: int, docs: int, same_split: bool, first_n: bool) -> None:
    from lm_eval.api.samplers import ContextSampler, FirstNSampler

    from pytest_llmselect.lmeval.config import FewshotSpec

    pool = [{"i": i, "x": str(i % 4)} for i in range(pool_size)]
    spec = FewshotSpec("first_n" if first_n else "default", None, None, None, None, None, None, None, None, "", "")
    ours = Sampler(spec, pool)
    theirs = (FirstNSampler if first_n else ContextSampler)(list(pool), rnd=None).set_rnd(1234)
    for d in range(docs):
        eval_doc = pool[d % pool_size] if same_split else None
        assert ours.sample(n, eval_doc) == list(theirs.sample(n=n, eval_doc=eval_doc))


responses = st.lists(st.text(alphabet=st.sampled_from(list("ab1 2#-.,\n")), max_size=12), min_size=1, max_size=4)


@needs_lm_eval
@settings(max_examples=200, deadline=None)
@given(resps=responses, pattern=st.sampled_from([r"#### (\-?[0-9\.\,]+)", r"(\d+)", r"(a)|(b)", r"\d"]),
       group=st.sampled_from([0, -1]), k=st.integers(1, 2))
def test_filters_match_lm_eval(resps: list[str], pattern: str, group: int, k: int) -> None:
    from lm_eval.filters import build_filter_ensemble

    steps = (("lowercase", {}), ("regex", {"regex_pattern": pattern, "group_select": group}),
             ("remove_whitespace", {}), ("majority_vote", {}), ("take_first", {}))
    if len(resps) >= k:
        steps = (("take_first_k", {"k": k}), *steps)
    ours = scoring.run_pipeline(FilterPipeline("f", steps), resps)

    class Inst:
        def __init__(self) -> None:
            self.resps, self.filtered_resps, self.doc = list(resps), {}, {}

    inst = Inst()
    build_filter_ensemble("f", [[name, kw] for name, kw in steps]).apply([inst])
    assert ours == inst.filtered_resps["f"]


@needs_lm_eval
@settings(max_examples=200, deadline=None)
@given(pred=st.text(alphabet=st.sampled_from(list("aB1,. ")), max_size=6),
       ref=st.text(alphabet=st.sampled_from(list("Ab1,. ")), max_size=6),
       case=st.booleans(), punct=st.booleans(), numbers=st.booleans(), regexes=st.sampled_from([None, [","], [" ", "\\."]]))
def test_exact_match_options_match_lm_eval(pred: str, ref: str, case: bool, punct: bool, numbers: bool,
                                           regexes: list[str] | None) -> None:
    from lm_eval.api.metrics import exact_match_hf_evaluate

    opts = {"ignore_case": case, "ignore_punctuation": punct, "ignore_numbers": numbers, "regexes_to_ignore": regexes}
    expected = exact_match_hf_evaluate(predictions=[pred], references=[ref], **opts)["exact_match"]
    assert scoring.exact_match(pred, ref, **opts) == expected


@needs_lm_eval
def test_aggregations_match_lm_eval() -> None:
    from lm_eval.api import metrics as M

    lls = [-3.5, -10.25, -0.5]
    pairs = [[-3.5, 4], [-10.25, 9], [-0.5, 1]]
    assert scoring.aggregate("perplexity", lls) == pytest.approx(M.perplexity(lls))
    assert scoring.aggregate("weighted_perplexity", pairs) == pytest.approx(M.weighted_perplexity(pairs))
    assert scoring.aggregate("bits_per_byte", pairs) == pytest.approx(M.bits_per_byte(pairs))
    gen = [["the cat sat", "the cat sat down"], ["a dog", "one dog"], ["hello", "hello"]]
    for name in ("bleu", "chrf", "ter"):
        assert scoring.aggregate(name, gen) == pytest.approx(getattr(M, name)(gen)), name
    gp = [[1, 1], [0, 1], [1, 0], [1, 1]]
    assert scoring.aggregate("f1", gp) == pytest.approx(M.f1_score(gp))
    assert scoring.aggregate("mean", [1.0, 0.0, 0.0]) == pytest.approx(1 / 3)


def test_multiple_choice_metrics_by_hand() -> None:
    metrics = [MetricSpec(n, "mean", True) for n in ("acc", "acc_norm", "exact_match")]
    # raw: choice 0 (-2.0) wins; per character: choice 1 (-3.0 / 6 = -0.5 beats -2.0 / 1)
    out = scoring.multiple_choice([-2.0, -3.0], [False, True], ["a", "bbbbbb"], 1, metrics)
    assert out == {"acc": 0.0, "acc_norm": 1.0, "exact_match": 1.0}
    assert scoring.gold_index("bbbbbb", ["a", "bbbbbb"]) == 1 and scoring.gold_index("zz", ["a"]) == -100
    many = scoring.multiple_choice([-2.0, -3.0], [True, False], ["a", "b"], [0, 1], metrics)
    assert many["acc"] == 1.0


def test_document_scores() -> None:
    bpb = MetricSpec("bits_per_byte", "bits_per_byte", False)
    assert scoring.document_score(bpb, [-math.log(2) * 8, 4]) == pytest.approx(2.0)
    with pytest.raises(LmevalError, match="'f1' has no value for a single document"):
        scoring.document_score(MetricSpec("f1", "f1", True), [1, 0])
    assert scoring.rolling(-1.0, "a b  c", [MetricSpec("word_perplexity", "weighted_perplexity", False)]) == \
        {"word_perplexity": [-1.0, 3]}
