from pathlib import Path

import pytest

from pytest_llmselect import GenerateRequest, case_ids, load_jsonl, semantic_similarity

# {"id": "open-000", "instruction": "Rewrite politely: Send me the report now.", "reference": "Could you please send me the report?"}
CASES = load_jsonl(Path(__file__).parent / "data" / "open_ended.jsonl", required=("id", "instruction", "reference"))


def request(case):
    return GenerateRequest(case["instruction"] + "\n", max_new_tokens=32, stop=("\n",))


def judge_fields(case):
    return {"input": case["instruction"], "reference": case["reference"]}


@pytest.mark.llm_task("open-judged", metric="judge_rubric", requests=request, judge_fields=judge_fields)
@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_open_judged(llm, llm_judge, llm_record, case):
    output = llm.run(request(case)).text
    grade = llm_judge.rubric(output, **judge_fields(case))
    llm_record(grade, output=output,
               reference_scores={"semantic_similarity": semantic_similarity(output, case["reference"])})


@pytest.mark.llm_task("open-similarity", metric="semantic_similarity", requests=request)
@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_open_similarity(llm, llm_record, case):
    output = llm.run(request(case)).text
    llm_record(semantic_similarity(output, case["reference"]), output=output)
