"""``lmeval_suite`` in a suite file, end to end through pytester: one item per document, the
data mapping from the ini file or the command line, one-line collection errors, and an imported
task selected, cached and gated like a hand-written one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("datasets")

DOCS = [{"question": q, "answer": a} for q, a in (("21+5", "26"), ("59+33", "92"), ("14+3", "17"), ("7+40", "47"))]

HUB_TASK = """task: sums
dataset_path: someorg/sums
test_split: test
output_type: generate_until
doc_to_text: "{{question}}="
doc_to_target: answer
target_delimiter: ""
generation_kwargs:
  until: ["\\n"]
  max_gen_toks: 5
"""

SUITE = 'from pytest_llmselect.lmeval import lmeval_suite\n\ntest_sums = lmeval_suite("tasks/sums.yaml"{args})\n'


def make(pytester: pytest.Pytester, args: str = "", task: str = HUB_TASK) -> None:
    tasks = pytester.path / "tasks"
    tasks.mkdir(exist_ok=True)
    (tasks / "sums.yaml").write_text(task, encoding="utf-8")
    data = pytester.path / "data"
    data.mkdir(exist_ok=True)
    (data / "sums.jsonl").write_text("".join(json.dumps(d) + "\n" for d in DOCS), encoding="utf-8")
    pytester.makepyfile(test_sums=SUITE.format(args=args))


def test_one_item_per_document_with_the_data_mapped_in_the_ini_file(pytester: pytest.Pytester) -> None:
    make(pytester)
    pytester.makeini("[pytest]\nllm_lmeval_data =\n    someorg/sums test = data/sums.jsonl\n")
    result = pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(["test_sums.py::test_sums[[]0[]]", "test_sums.py::test_sums[[]3[]]", "4 tests collected*"])


def test_the_mapping_on_the_command_line_and_in_the_suite(pytester: pytest.Pytester) -> None:
    make(pytester)
    result = pytester.runpytest("--collect-only", "-q", "--llm-lmeval-data", "someorg/sums test=data/sums.jsonl")
    result.stdout.fnmatch_lines(["4 tests collected*"])
    make(pytester, args=', data={"someorg/sums test": "data/sums.jsonl"}, limit=2')
    result = pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(["2 tests collected*"])


@pytest.mark.parametrize("task, args, message", [
    (HUB_TASK, "", "*dataset 'someorg/sums test' is not available offline; map it to a local file: "
                   "--llm-lmeval-data 'someorg/sums test = FILE'*"),
    (HUB_TASK + "use_prompt: p\n", "", "*task 'sums': field 'use_prompt' is not supported"),
    (HUB_TASK, ', metric="bleu"', "*task 'sums': no metric 'bleu' (it has exact_match)"),
    (HUB_TASK.replace("{{question}}", "{{ question"), ', data={"someorg/sums test": "data/sums.jsonl"}',
     "*doc_to_text*TemplateSyntaxError*"),
])
def test_a_bad_task_is_one_line_at_collection(pytester: pytest.Pytester, task: str, args: str, message: str) -> None:
    make(pytester, args=args, task=task)
    result = pytester.runpytest("--collect-only", "-q")
    assert result.ret != 0
    result.stdout.fnmatch_lines([message])
    assert "Traceback" not in result.stdout.str() and "lmeval/" not in result.stdout.str()


@pytest.mark.slow
def test_an_imported_task_is_selected_cached_and_gated(pytester: pytest.Pytester) -> None:
    pytest.importorskip("torch")
    make(pytester, args=', data={"someorg/sums test": "data/sums.jsonl"}')
    common = ("-p", "no:cacheprovider", "--llm-candidates=zoo:small,zoo:tiny", "--llm-cpu-threads=1",
              "--llm-run-log=", "--llm-benchmark-rounds=1")
    first = pytester.runpytest_subprocess(*common, "--llm-report=first.json", "--llm-save")
    first.assert_outcomes(passed=8)
    report = json.loads(Path(pytester.path / "first.json").read_text())
    task = next(t for t in report["tasks"] if t["name"] == "sums")
    assert task["metric"] == "exact_match" and task["n_cases"] == 4
    assert report["selected"] in ("zoo:small", "zoo:tiny")
    outputs = {c["case_id"]: c["output"] for c in report["cases"] if c["candidate"] == "zoo:small"}
    second = pytester.runpytest_subprocess(*common, "--llm-report=second.json", "--llm-baseline=latest")
    assert second.ret == 0, second.stdout.str()[-2000:]
    again = json.loads(Path(pytester.path / "second.json").read_text())
    measures = [r["measures"] for t in again["tasks"] for r in t["results"]]
    assert all(m["cache_hits"] == m["requests"] > 0 for m in measures)  # the second run is served from the cache
    assert {c["case_id"]: c["output"] for c in again["cases"] if c["candidate"] == "zoo:small"} == outputs
    second.stdout.fnmatch_lines(["gate * against *", "* sums zoo:tiny vs zoo:small; diff *"])  # gated per imported task


@pytest.mark.slow
def test_a_tasks_few_shot_documents_become_a_demonstration_pool(pytester: pytest.Pytester) -> None:
    pytest.importorskip("torch")
    from suitekit import REPO

    task = REPO / "examples" / "lmeval" / "tasks" / "largest" / "largest.yaml"
    pytester.makepyfile(test_largest=f'from pytest_llmselect.lmeval import lmeval_suite\n\n'
                                     f'test_largest = lmeval_suite({str(task)!r}, metric="acc_norm", limit=6, demos="random:2")\n')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--llm-candidates=zoo:small", "--llm-cpu-threads=1",
                                           "--llm-run-log=", "--llm-benchmark-rounds=1", "--llm-demos=first:2,random:2,none",
                                           "--llm-report=r.json")
    result.assert_outcomes(passed=18)
    report = json.loads(Path(pytester.path / "r.json").read_text())
    by_config: dict[str, list] = {}
    for case in report["cases"]:
        by_config.setdefault(case["demos"]["config"], []).append(case["demos"]["ids"])
    assert sorted(by_config) == ["first:2", "none", "random:2"]
    assert all(ids == ["shot-0", "shot-1"] for ids in by_config["first:2"])  # the fewshot split's first two
    assert all(len(ids) == 2 and all(i.startswith("shot-") for i in ids) for ids in by_config["random:2"])
    assert all(ids == [] for ids in by_config["none"])
    lls = {c["demos"]["config"]: c["extra"]["responses"] for c in report["cases"] if c["case_id"] == "0"}
    assert lls["first:2"] != lls["none"]  # the demonstrations are in the prompt


SAMPLED_TASK = HUB_TASK.replace("  max_gen_toks: 5\n", "  max_gen_toks: 4\n  do_sample: true\n  temperature: 1.5\n") + """repeats: 3
filter_list:
  - name: vote
    filter:
      - function: majority_vote
      - function: take_first
"""


@pytest.mark.slow
def test_a_sampling_task_draws_its_repeats_seeded_per_case_and_sample(pytester: pytest.Pytester) -> None:
    pytest.importorskip("torch")
    make(pytester, args=', data={"someorg/sums test": "data/sums.jsonl"}', task=SAMPLED_TASK)
    common = ("-p", "no:cacheprovider", "--llm-candidates=zoo:tiny", "--llm-cpu-threads=1", "--llm-run-log=",
              "--llm-benchmark-rounds=1", "--llm-cache=off")

    def responses(seed: int, name: str) -> dict[str, list[str]]:
        result = pytester.runpytest_subprocess(*common, f"--llm-seed={seed}", f"--llm-report={name}")
        result.assert_outcomes(passed=4)
        report = json.loads(Path(pytester.path / name).read_text())
        return {c["case_id"]: c["extra"]["responses"] for c in report["cases"]}

    first, again, other = responses(1, "a.json"), responses(1, "b.json"), responses(2, "c.json")
    assert all(len(r) == 3 for r in first.values())  # repeats: 3 samples per document
    assert first == again  # the same seed draws the same samples
    assert first != other  # another seed, other samples
    assert any(len(set(r)) > 1 for r in first.values())  # sampled, not three greedy copies
