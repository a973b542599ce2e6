"""Reading lm-eval task files: include chains, !function, defaults, and one line for what is unsupported."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_llmselect.lmeval.config import load_task, task_config
from pytest_llmselect.lmeval.yamlfile import FunctionRef, LmevalError, load_yaml


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_include_chain_merges_in_order_and_the_file_wins(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", "output_type: multiple_choice\ndescription: base\ntarget_delimiter: '|'\ntask_list: [x]\n")
    write(tmp_path, "sub/mid.yaml", "include: ../base.yaml\ndescription: mid\ndoc_to_text: q\n")
    leaf = write(tmp_path, "sub/leaf.yaml", "include: mid.yaml\ntask: leaf\ndescription: leaf\n")
    raw = load_yaml(leaf)
    assert raw == {"output_type": "multiple_choice", "description": "leaf", "target_delimiter": "|",
                   "doc_to_text": "q", "task": "leaf"}


def test_include_cycle_is_one_line_naming_the_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "include: b.yaml\ntask: a\n")
    write(tmp_path, "b.yaml", "include: a.yaml\n")
    with pytest.raises(LmevalError, match=r"include cycle \(a.yaml -> b.yaml -> a.yaml\)"):
        load_yaml(tmp_path / "a.yaml")


def test_missing_include_names_the_including_file(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "include: nothere.yaml\ntask: a\n")
    with pytest.raises(LmevalError, match=r"nothere.yaml: task file not found \(included from .*a.yaml\)"):
        load_yaml(tmp_path / "a.yaml")


def test_function_tag_is_resolved_from_the_including_files_folder(tmp_path: Path) -> None:
    write(tmp_path, "lib/utils.py", "def docs(ds):\n    return ds\ndef text(doc):\n    return 'T:' + doc['x']\n")
    write(tmp_path, "lib/base.yaml", "doc_to_text: !function utils.text\nprocess_docs: !function utils.docs\n")
    leaf = write(tmp_path, "leaf.yaml", "include: lib/base.yaml\ntask: leaf\ndoc_to_target: y\n")
    raw = load_yaml(leaf)
    assert raw["doc_to_text"] == FunctionRef((tmp_path / "lib").resolve(), "utils.text")
    task = load_task(leaf)
    assert task.doc_to_text({"x": "a"}) == "T:a"
    with pytest.raises(LmevalError, match=r"(doc_to_text: !function utils.text|process_docs: !function utils.docs) runs the task folder.s code"):
        load_task(leaf, functions=False)


def test_defaults_are_lm_evals(tmp_path: Path) -> None:
    task = load_task(write(tmp_path, "t.yaml", "task: t\ndoc_to_text: q\ndoc_to_target: a\ntest_split: test\n"))
    assert task.output_type == "generate_until"
    assert (task.target_delimiter, task.fewshot_delimiter, task.description) == (" ", "\n\n", "")
    assert task.until == ("\n\n",) and task.max_gen_toks == 256
    assert [m.name for m in task.metrics] == ["exact_match"]
    assert [p.name for p in task.filters] == ["none"]
    assert task.num_fewshot == 0 and task.repeats == 1 and task.eval_split == "test"
    mc = load_task(write(tmp_path, "m.yaml", "task: m\noutput_type: multiple_choice\nvalidation_split: v\n"))
    assert [m.name for m in mc.metrics] == ["acc", "acc_norm"] and mc.eval_split == "v"


@pytest.mark.parametrize("text, message", [
    ("task: t\nprocess_results: !function utils.f\n", "!function utils.f: no utils.py next to the task file"),
    ("task: t\ncustom_dataset: !function utils.f\n", "field 'custom_dataset' is not supported"),
    ("task: t\nclass: !function x.Y\n", "field 'class' is not supported"),
    ("task: t\nmetric_list:\n  - metric: rouge1\n", "metric 'rouge1' is not supported"),
    ("task: t\nmetric_list:\n  - metric: exact_match\n    ignore_spaces: true\n", "option 'ignore_spaces' is not supported"),
    ("task: t\nfilter_list:\n  - name: f\n    filter:\n      - function: custom\n", "filter 'custom' (in 'f') is not supported"),
    ("task: t\ngeneration_kwargs:\n  num_beams: 4\n", "num_beams: 4 (beam search) is not supported"),
    ("task: t\ngeneration_kwargs:\n  temperature: 0.7\n", "temperature > 0 without do_sample"),
    ("task: t\ngeneration_kwargs:\n  do_sample: true\n  temperature: 0\n", "do_sample: true needs temperature > 0"),
    ("task: t\ngeneration_kwargs:\n  do_sample: true\n  top_k: 5\n", "top_k sampling is not supported"),
    ("task: t\nmetric_list:\n  - metric: acc\n", "metric 'acc' on generate_until: aggregation 'mean' of (gold, output) pairs"),
    ("task: t\noutput_type: multiple_choice\nfewshot_config:\n  sampler: balanced\n", "sampler 'balanced' is not supported"),
    ("task: [a, b]\n", "not a single task: a group"),
    ("task: t\noutput_type: rank\n", "output_type 'rank' is not supported"),
    ("task: t\nnum_fewshot: -1\n", "num_fewshot must be a non-negative integer, got -1"),
])
def test_unsupported_is_one_line_naming_it(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "t.yaml", text)
    with pytest.raises(LmevalError) as info:
        load_task(path)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert str(path) in str(info.value)


def test_metric_options_and_filters_are_kept(tmp_path: Path) -> None:
    task = load_task(write(tmp_path, "t.yaml", """
task: t
metric_list:
  - metric: exact_match
    ignore_case: true
    regexes_to_ignore: [","]
    higher_is_better: true
filter_list:
  - name: get
    filter:
      - function: regex
        regex_pattern: "(\\\\d+)"
      - function: take_first
generation_kwargs:
  until: "Q:"
  max_gen_toks: 7
repeats: 3
"""))
    assert task.metrics[0].kwargs == {"ignore_case": True, "regexes_to_ignore": [","]}
    assert task.filters[0].steps == (("regex", {"regex_pattern": "(\\d+)"}), ("take_first", {}))
    assert task.until == ("Q:",) and task.max_gen_toks == 7 and task.repeats == 3


def test_num_fewshot_argument_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "t.yaml", "task: t\nnum_fewshot: 5\n")
    assert load_task(path).num_fewshot == 5
    assert load_task(path, num_fewshot=0).num_fewshot == 0


yaml_text = st.text(alphabet=st.sampled_from(list("abt:-[]{}!\"' \n\t#&*|>%@`,.?=0123456789")), max_size=80)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=yaml_text)
def test_any_text_is_a_task_or_one_line_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        raw = load_yaml(path)
        task_config(raw, path)
    except LmevalError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)


@settings(max_examples=200, deadline=None)
@given(fields=st.dictionaries(
    st.sampled_from(["task", "output_type", "num_fewshot", "repeats", "metric_list", "filter_list",
                     "generation_kwargs", "fewshot_config", "target_delimiter", "description", "doc_to_text",
                     "dataset_kwargs", "test_split", "unsafe_code"]),
    st.one_of(st.none(), st.booleans(), st.integers(-3, 300), st.text(max_size=8),
              st.lists(st.one_of(st.text(max_size=5), st.dictionaries(st.sampled_from(["metric", "name", "filter", "function"]),
                                                                       st.text(max_size=6), max_size=2)), max_size=2),
              st.dictionaries(st.sampled_from(["until", "max_gen_toks", "do_sample", "sampler", "split", "data_files"]),
                              st.one_of(st.booleans(), st.integers(0, 9), st.text(max_size=4)), max_size=3)),
    max_size=6))
def test_any_field_values_are_accepted_or_refused_in_one_line(fields: dict) -> None:
    try:
        task_config(fields, Path("fuzz.yaml"))
    except LmevalError as exc:
        assert "\n" not in str(exc)


def test_the_task_folders_process_results_and_aggregation_are_run(tmp_path: Path) -> None:
    from pytest_llmselect.backends.base import GenerateResult
    from pytest_llmselect.lmeval.build import LmevalCase, primary, score_case
    from pytest_llmselect.lmeval.scoring import aggregate

    write(tmp_path, "utils.py", "def pr(doc, results):\n    return {'hit': float(results[0] == doc['a']), 'pair': [1, 0]}\n"
                                "def agg(items):\n    return 42.0 + len(items)\n")
    task = load_task(write(tmp_path, "t.yaml", """
task: t
doc_to_text: q
doc_to_target: a
process_results: !function utils.pr
metric_list:
  - metric: hit
    aggregation: mean
  - metric: pair
    aggregation: !function utils.agg
"""))
    chosen = primary(task, None, None)
    assert chosen.metric.name == "hit"
    case = LmevalCase("t", 0, (), doc={"q": "x", "a": "yes"})
    out = score_case(task, case, [GenerateResult(" yes", 1, 1)], chosen)
    assert out.score == 0.0 and out.scores == {"hit,none": 0.0, "pair,none": [1, 0]}  # take_first keeps " yes"
    out = score_case(task, case, [GenerateResult("yes", 1, 1)], chosen)
    assert out.score == 1.0
    assert aggregate(task.metrics[1].aggregation, [[1, 0], [0, 1]]) == 44.0
    with pytest.raises(LmevalError, match="process_results: !function utils.pr runs the task folder's code"):
        load_task(tmp_path / "t.yaml", functions=False)


def test_a_task_module_that_exits_on_import_is_one_line(tmp_path: Path) -> None:
    write(tmp_path, "utils.py", "import sys\nsys.exit('Error: a tool this task needs is not installed')\ndef f(d):\n    return d\n")
    path = write(tmp_path, "t.yaml", "task: t\nprocess_docs: !function utils.f\n")
    with pytest.raises(LmevalError, match=r"utils.py: importing it failed: SystemExit: Error: a tool this task needs"):
        load_task(path)


@pytest.mark.parametrize("kwargs, expected", [
    # lm-eval's HF model: do_sample decides; a temperature without it is greedy when do_sample is false
    ("do_sample: true\n  temperature: 0.8\n  top_p: 0.95\n", (0.8, 0.95, 256)),
    ("do_sample: true\n", (1.0, 1.0, 256)),  # transformers' default temperature
    ("do_sample: false\n  temperature: 0.7\n  top_p: 0.9\n", (0.0, 1.0, 256)),
    ("do_sample: false\n  num_beams: 1\n  max_new_tokens: 16\n  max_gen_toks: 99\n", (0.0, 1.0, 16)),
])
def test_generation_kwargs_follow_lm_evals_hf_model(tmp_path: Path, kwargs: str, expected: tuple) -> None:
    task = load_task(write(tmp_path, "t.yaml", f"task: t\ntest_split: test\nrepeats: 3\ngeneration_kwargs:\n  {kwargs}"))
    assert (task.temperature, task.top_p, task.max_gen_toks) == expected
    assert task.sampled == (expected[0] > 0) and task.repeats == 3


def test_acc_and_f1_on_a_generation_take_pair_aggregations(tmp_path: Path) -> None:
    task = load_task(write(tmp_path, "t.yaml", "task: t\ntest_split: test\nmetric_list:\n"
                                               "  - metric: acc\n    aggregation: matthews_corrcoef\n"))
    assert [(m.name, m.aggregation) for m in task.metrics] == [("acc", "matthews_corrcoef")]
    with pytest.raises(LmevalError, match="metric 'f1' on generate_until: aggregation 'f1' of"):
        load_task(write(tmp_path, "f.yaml", "task: t\ntest_split: test\nmetric_list:\n  - metric: f1\n"))
