from pathlib import Path

import pytest

from pytest_llmselect import GenerateRequest, case_ids, exact_match, load_jsonl

# One JSON object per line: {"id": "fr", "prompt": "Capital of France:", "answer": "Paris"}
CASES = load_jsonl(Path(__file__).parent / "data" / "capitals.jsonl", required=("id", "prompt", "answer"))


def request(case):
    return GenerateRequest(case["prompt"], max_new_tokens=8, stop=("\n",))


@pytest.mark.llm_task("capitals", metric="exact_match", min_quality=0.8, requests=request)
@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_capitals(llm, llm_record, case):
    output = llm.run(request(case)).text
    llm_record(exact_match(output, case["answer"]), output=output)
