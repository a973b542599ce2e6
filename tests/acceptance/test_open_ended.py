"""Repeated sampling and judges end to end (pytester, real zoo models): sampled texts that do
not depend on batch size or -n, a judge's cached grades reused, a judge that fails or answers
garbage counted as errored with one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from suitekit import head_jsonl, read_json

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("jinja2")

pytestmark = pytest.mark.slow

SAMPLED = '''
from pathlib import Path
import pytest
from pytest_llmselect import GenerateRequest, case_ids, exact_match, load_jsonl

CASES = load_jsonl(Path(__file__).parent / "data" / "addition.jsonl")

def request(case):
    return GenerateRequest(case["prompt"], max_new_tokens=5, stop=("\\n",))

@pytest.mark.llm_task("sampled", metric="exact_match", requests=request, samples=4, temperature=1.0,
                      reducer="pass@4")
@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_sampled(llm, llm_record, case):
    outputs = llm.samples(request(case))
    llm_record(samples=[exact_match(o, case["answer"]) for o in outputs], output=outputs)
'''

JUDGED = '''
from pathlib import Path
import pytest
from pytest_llmselect import GenerateRequest, case_ids, exact_match, load_jsonl

CASES = load_jsonl(Path(__file__).parent / "data" / "addition.jsonl")

def request(case):
    return GenerateRequest(case["prompt"], max_new_tokens=5, stop=("\\n",))

def fields(case):
    return {"input": case["prompt"], "reference": case["answer"]}

@pytest.mark.llm_task("judged", metric="judge_rubric", requests=request, judge_fields=fields)
@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_judged(llm, llm_judge, llm_record, case):
    output = llm.run(request(case)).text
    grade = llm_judge.rubric(output, **fields(case))
    llm_record(grade, output=output, reference_scores={"exact_match": exact_match(output, case["answer"])})
'''


def _write(pt: pytest.Pytester, suite: str, n: int) -> None:
    data = pt.mkdir("data")
    (data / "addition.jsonl").write_text(head_jsonl("addition.jsonl", n), encoding="utf-8")
    pt.makepyfile(test_suite=suite)


def _outputs(path: Path) -> dict[tuple[str, str], object]:
    return {(c["candidate"], c["case_id"]): (c["output"], c.get("samples", {}).get("seeds"))
            for c in read_json(path)["cases"]}


def test_samples_are_the_same_across_runs_batch_sizes_and_workers(pytester: pytest.Pytester) -> None:
    _write(pytester, SAMPLED, 10)
    common = ("--llm-candidates=zoo:tiny,zoo:small", "--llm-cache=off", "--llm-seed=7", "-p", "no:cacheprovider",
              "--llm-benchmark-rounds=1", "--llm-latency-sample=0")
    runs = {}
    for name, extra in (("b32", ()), ("b1", ("--llm-batch-size=1",)), ("b3", ("--llm-batch-size=3",)),
                        ("n2", ("-n", "2"))):
        result = pytester.runpytest_subprocess(*common, *extra, f"--llm-report={name}.json")
        assert result.ret == 0, result.stdout.str()[-2000:]
        runs[name] = _outputs(pytester.path / f"{name}.json")
    assert len(runs["b32"]) == 20
    assert all(len(out) == 4 for out, _ in runs["b32"].values())
    for name in ("b1", "b3", "n2"):
        assert runs[name] == runs["b32"], name
    # the samples of one case differ (temperature 1): a sampler that ignored its seed would repeat one text
    assert any(len(set(out)) > 1 for out, _ in runs["b32"].values())
    report = read_json(pytester.path / "b32.json")
    row = report["tasks"][0]["results"][0]
    assert row["measures"]["requests"] == 40  # cost counts every sample: 10 cases x 4
    assert {"pass@1", "pass@4"} <= set(row["sampling"])
    other_seed = pytester.runpytest_subprocess(*common[:2], "--llm-seed=8", "-p", "no:cacheprovider",
                                               "--llm-report=s8.json")
    assert other_seed.ret == 0
    assert _outputs(pytester.path / "s8.json") != runs["b32"]


def test_a_judges_grades_come_from_the_cache_on_a_second_run(pytester: pytest.Pytester) -> None:
    _write(pytester, JUDGED, 8)
    args = ("--llm-candidates=zoo:tiny,zoo:small", "--llm-judge=zoo:base", "--llm-cache=readwrite",
            "--llm-cache-path=cache.sqlite", "-p", "no:cacheprovider")
    first = pytester.runpytest_subprocess(*args, "--llm-report=first.json")
    assert first.ret == 0, first.stdout.str()[-2000:]
    second = pytester.runpytest_subprocess(*args, "--llm-report=second.json")
    assert second.ret == 0
    one, two = read_json(pytester.path / "first.json"), read_json(pytester.path / "second.json")
    (cost1,), (cost2,) = one["evaluation_cost"], two["evaluation_cost"]
    assert cost1["requests"] > 0 and cost1["cache_hits"] == 0 and cost1["loads"] == 1
    assert cost2["cache_hits"] == cost2["requests"] == cost1["requests"]  # no judge request ran again
    grades = lambda r: {(c["candidate"], c["case_id"]): c["score"] for c in r["cases"]}  # noqa: E731
    assert grades(one) == grades(two)
    judge = one["tasks"][0]["judge"]
    assert judge["model"] == "zoo:base" and judge["self_preference"] == [] and judge["graded"] == 16
    assert judge["agreement"][0]["reference"] == "exact_match"
    assert "judge zoo:base" in first.stdout.str()  # the terminal names the judge and its agreement


def test_a_judge_that_cannot_load_errors_each_judged_case_in_one_line(pytester: pytest.Pytester) -> None:
    _write(pytester, JUDGED, 3)
    broken = pytester.mkdir("broken")
    (broken / "config.json").write_text("{not json", encoding="utf-8")
    result = pytester.runpytest_subprocess("--llm-candidates=zoo:tiny", "--llm-judge=./broken", "--llm-cache=off",
                                           "-p", "no:cacheprovider", "--llm-report=run.json")
    assert result.ret == 1
    cases = read_json(pytester.path / "run.json")["cases"]
    assert [c["status"] for c in cases] == ["errored"] * 3
    assert all(c["error"].startswith("JudgeError: judge ./broken failed to load") for c in cases)
    result.stdout.fnmatch_lines(["*addition-000: judge ./broken failed to load*"])
    assert "Traceback" not in result.stdout.str()


def test_a_judge_that_answers_garbage_errors_those_cases(pytester: pytest.Pytester) -> None:
    from tests.helpers_tiny_model import build_tiny_model

    _write(pytester, JUDGED, 6)
    build_tiny_model(pytester.path / "noise", seed=3)
    # A judge read by its generated answer (as a served judge is): a random model's text holds no score.
    pytester.makeconftest('''
from pytest_llmselect.judge.runner import JudgeRunner
JudgeRunner.method = lambda self: "generate"
''')
    result = pytester.runpytest_subprocess("--llm-candidates=zoo:tiny", "--llm-judge=./noise", "--llm-cache=off",
                                           "-p", "no:cacheprovider", "--llm-report=run.json")
    cases = read_json(pytester.path / "run.json")["cases"]
    errored = [c for c in cases if c["status"] == "errored"]
    assert errored and result.ret == 1
    assert all(c["error"].startswith("JudgeError: judge gave no score 1-5") for c in errored)
    report = read_json(pytester.path / "run.json")
    assert report["tasks"][0]["results"][0]["n_errors"] == len(errored)
    assert report["evaluation_cost"][0]["errors"] == len(errored)


OPTION_ONLY = '''
from pathlib import Path
import pytest
from pytest_llmselect import GenerateRequest, case_ids, exact_match, load_jsonl

CASES = load_jsonl(Path(__file__).parent / "data" / "addition.jsonl")

def request(case):
    return GenerateRequest(case["prompt"], max_new_tokens=5, stop=("\\n",))

@pytest.mark.llm_task("greedy", metric="exact_match", requests=request)
@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_greedy(llm, llm_record, case):
    output = llm.run(request(case)).text
    llm_record(exact_match(output, case["answer"]), output=output)

@pytest.mark.llm_task("sampled-by-option", metric="exact_match", requests=request)
@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_sampled(llm, llm_record, case):
    outputs = llm.samples(request(case))
    llm_record(samples=[exact_match(o, case["answer"]) for o in outputs], output=outputs)
'''


def test_llm_samples_alone_samples_only_where_a_test_asks(pytester: pytest.Pytester) -> None:
    _write(pytester, OPTION_ONLY, 4)
    result = pytester.runpytest_subprocess("--llm-candidates=zoo:tiny", "--llm-samples=3", "--llm-cache=off",
                                           "-p", "no:cacheprovider", "--llm-report=run.json",
                                           "--llm-benchmark-rounds=1", "--llm-latency-sample=0")
    assert result.ret == 0, result.stdout.str()[-2000:]
    tasks = {t["name"]: t["results"][0] for t in read_json(pytester.path / "run.json")["tasks"]}
    assert tasks["greedy"]["measures"]["requests"] == 4  # its cases were not sampled up front
    assert tasks["sampled-by-option"]["sampling"]["samples"] == 3
    assert tasks["sampled-by-option"]["measures"]["requests"] == 4 + 12  # announced greedy + 3 samples each
