"""The generation pieces added for lm-eval's task folder, against lm-eval's own objects: the
``multi_choice_regex`` filter (its MultiChoiceRegexFilter on hypothesis-made and hand-picked
strings), ``acc`` and ``f1`` on a generation (a ConfigurableTask's process_results and
aggregation), and a sampled task's requests (one per document, expanded by the run)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

lm_eval = pytest.importorskip("lm_eval")

from pytest_llmselect.lmeval import scoring  # noqa: E402
from pytest_llmselect.lmeval.build import build_cases, primary, score_case  # noqa: E402
from pytest_llmselect.lmeval.config import FilterPipeline, load_task  # noqa: E402
from pytest_llmselect.lmeval.yamlfile import LmevalError  # noqa: E402


def theirs_mcr(resps: list[str], doc: dict[str, Any], **kwargs: Any) -> list[str]:
    from lm_eval.filters.extraction import MultiChoiceRegexFilter

    return MultiChoiceRegexFilter(**kwargs).apply([resps], [doc])[0]


def ours_mcr(resps: list[str], doc: dict[str, Any], **kwargs: Any) -> list[str]:
    return scoring.run_pipeline(FilterPipeline("f", (("multi_choice_regex", kwargs),)), resps, doc)


PATTERNS = [r"(\([A-Z]\))", r"answer is (\([A-D]\))", r"([A-D])\.", r"(a)|(\(B\))", r"#### (\-?[0-9\.\,]+)"]
words = st.text(alphabet=st.sampled_from(list("abAB,.!'() ")), min_size=0, max_size=8)


def theirs_many(docs: list[tuple[list[str], dict[str, Any]]], **kwargs: Any) -> list[list[str]]:
    """One apply over many documents: lm-eval's filter builds its punctuation table per call."""
    from lm_eval.filters.extraction import MultiChoiceRegexFilter

    return MultiChoiceRegexFilter(**kwargs).apply([r for r, _ in docs], [d for _, d in docs])


@st.composite
def document(draw: Any) -> tuple[list[str], dict[str, Any]]:
    choices = draw(st.lists(words, min_size=1, max_size=4))
    pieces = st.one_of(words, st.sampled_from(choices), st.sampled_from(["(A)", "(B)", ": A", ":  C", "answer is (D)",
                                                                         "C.", " (a) ", "#### 4,2"]))
    return draw(st.lists(st.lists(pieces, max_size=4).map("".join), min_size=1, max_size=3)), {"choices": choices}


options = st.fixed_dictionaries({
    "regex_pattern": st.sampled_from(PATTERNS), "group_select": st.sampled_from([0, -1]),
    "ignore_case": st.booleans(), "ignore_punctuation": st.booleans(),
    "regexes_to_ignore": st.sampled_from([None, [","], [r"\s+", "!"]])})


HAND_PICKED = [
    (["The answer is (C)."], ["x", "y", "z"], {"regex_pattern": r"(\([A-Z]\))"}, ["(C)"]),
    (["I'd say Guilty of Romance"], ["Guilty", "Guilty of Romance"], {"regex_pattern": r"(\([A-Z]\))"}, ["(B)"]),
    (["so: B"], ["cat", "dog"], {"regex_pattern": r"(\([A-Z]\))"}, ["(B)"]),
    (["THE DOG!"], ["cat", "dog."], {"regex_pattern": r"(\([A-Z]\))", "ignore_case": True,
                                     "ignore_punctuation": True}, ["(B)"]),
    (["nothing here"], ["cat", "dog"], {"regex_pattern": r"(\([A-Z]\))", "fallback": "??"}, ["??"]),
    (["(A) then (B)"], ["cat", "dog"], {"regex_pattern": r"(\([A-Z]\))", "group_select": -1}, ["(B)"]),
]


@settings(max_examples=60, deadline=None)
@given(docs=st.lists(document(), min_size=1, max_size=25), kwargs=options)
@example(docs=[(["answer: B", "dog"], {"choices": ["cat", "dog"]})], kwargs={"regex_pattern": r"(\([A-Z]\))"})
@example(docs=[([""], {"choices": [""]})], kwargs={"regex_pattern": r"(a)|(\(B\))"})
def test_multi_choice_regex_matches_lm_evals_filter(docs: list[tuple[list[str], dict[str, Any]]],
                                                    kwargs: dict[str, Any]) -> None:
    assert [ours_mcr(r, d, **kwargs) for r, d in docs] == theirs_many(docs, **kwargs)


@pytest.mark.parametrize("resps, choices, kwargs, expected", HAND_PICKED)
def test_multi_choice_regex_hand_picked(resps: list[str], choices: list[str], kwargs: dict[str, Any],
                                        expected: list[str]) -> None:
    doc = {"choices": choices}
    assert ours_mcr(resps, doc, **kwargs) == theirs_mcr(resps, doc, **kwargs) == expected


def test_multi_choice_regex_without_choices_is_one_line() -> None:
    with pytest.raises(LmevalError, match="reads the document's 'choices' field") as info:
        ours_mcr(["(A)"], {"options": ["x"]})
    assert "\n" not in str(info.value)


DOCS = [{"q": f"Pick for {i}", "choices": ["red", "green", "blue"], "label": i % 3} for i in range(8)]
OUTPUTS = ["It is (A)", "green", "so: C", "no idea", "(B) or (C)", "BLUE!", "red", ": B"]

TASK = """task: gen_pairs
dataset_path: json
dataset_kwargs:
  data_files:
    test: docs.jsonl
test_split: test
output_type: generate_until
doc_to_text: "{{q}}"
doc_to_target: "{{['(A)', '(B)', '(C)'][label]}}"
generation_kwargs:
  until: ["\\n"]
  do_sample: false
  temperature: 0.0
  num_beams: 1
filter_list:
  - name: flexible
    filter:
      - function: multi_choice_regex
        regex_pattern: "(\\\\([A-Z]\\\\))"
        group_select: -1
        ignore_case: true
        ignore_punctuation: true
      - function: take_first
metric_list:
  - metric: acc
    aggregation: matthews_corrcoef
  - metric: f1
    aggregation: !function agg.macro_f1
  - metric: exact_match
"""


def test_acc_and_f1_on_a_generation_agree_with_lm_evals_task(tmp_path: Path) -> None:
    from lm_eval.api.task import ConfigurableTask
    from lm_eval.tasks._yaml_loader import load_yaml

    (tmp_path / "docs.jsonl").write_text("".join(json.dumps(d) + "\n" for d in DOCS), encoding="utf-8")
    (tmp_path / "agg.py").write_text("from sklearn.metrics import f1_score\n\n\ndef macro_f1(items):\n"
                                     "    golds, preds = zip(*items)\n    return f1_score(golds, preds, average='macro')\n")
    path = tmp_path / "gen_pairs.yaml"
    path.write_text(TASK, encoding="utf-8")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        task = ConfigurableTask(config=load_yaml(path))
        task.build_all_requests(rank=0, world_size=1)
    finally:
        os.chdir(cwd)
    instances = sorted(task.instances, key=lambda i: i.doc_id)
    for inst in instances:
        inst.resps = [OUTPUTS[inst.doc_id]]
    task.apply_filters()
    theirs = [task.process_results(inst.doc, [inst.filtered_resps["flexible"]]) for inst in instances]

    ours_task = load_task(path)
    chosen = primary(ours_task, "exact_match", None)
    outcomes = []
    for case in build_cases(ours_task, {}):
        outcomes.append(score_case(ours_task, case, [OUTPUTS[case.doc_id]], chosen))
    assert [o.filtered["flexible"] for o in outcomes] == [i.filtered_resps["flexible"] for i in instances]
    for metric in ("acc", "f1", "exact_match"):
        mine = [o.scores[f"{metric},flexible"] for o in outcomes]
        assert [list(x) if isinstance(x, (list, tuple)) else x for x in mine] == \
               [list(t[metric]) if isinstance(t[metric], (list, tuple)) else t[metric] for t in theirs]
        agg = task.aggregation()[metric]
        expected = agg([t[metric] for t in theirs])
        spec = next(m for m in ours_task.metrics if m.name == metric)
        assert scoring.aggregate(spec.aggregation, mine) == pytest.approx(float(expected), abs=1e-12)
    assert 0 < task.aggregation()["acc"]([t["acc"] for t in theirs]) < 1  # not a degenerate agreement


def test_a_sampled_task_makes_one_request_per_document_for_the_run_to_sample(tmp_path: Path) -> None:
    (tmp_path / "docs.jsonl").write_text("".join(json.dumps(d) + "\n" for d in DOCS), encoding="utf-8")
    (tmp_path / "agg.py").write_text("def macro_f1(items):\n    return 0.0\n")
    path = tmp_path / "s.yaml"
    path.write_text(TASK.replace("do_sample: false", "do_sample: true").replace("temperature: 0.0", "temperature: 0.6")
                    + "repeats: 4\n", encoding="utf-8")
    task = load_task(path)
    assert task.sampled and (task.temperature, task.top_p, task.repeats) == (0.6, 1.0, 4)
    cases_ = build_cases(task, {})
    assert all(len(c.requests) == 1 and c.requests[0].temperature == 0.0 for c in cases_)
    greedy = load_task(path.with_name("g.yaml") if path.with_name("g.yaml").write_text(
        TASK + "repeats: 4\n", encoding="utf-8") else path)
    assert all(len(c.requests) == 4 for c in build_cases(greedy, {}))
    # the run's own sampler turns the one request into the repeats, seeded per (case, sample)
    from pytest_llmselect.sampling import SamplingPlan, sample_seed

    plan = SamplingPlan(task.repeats, task.temperature, task.top_p, seed=7)
    expanded = plan.expand(cases_[0].requests[0], "0")
    assert [r.seed for r in expanded] == [sample_seed(7, "0", i) for i in range(4)]
    assert {r.temperature for r in expanded} == {0.6}
