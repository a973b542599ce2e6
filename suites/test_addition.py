"""Generation task scored by exact match: two-digit addition ("12+34=" -> "46")."""

from pathlib import Path

import pytest

from pytest_llmselect import GenerateRequest, case_ids, exact_match, load_jsonl

CASES = load_jsonl(Path(__file__).parent / "data" / "addition.jsonl", required=("id", "prompt", "answer"))


def request(case):
    # Declared once, used twice: by the plugin to batch every case of a candidate
    # up front, and by the test to fetch its own answer from that batch.
    return GenerateRequest(case["prompt"], max_new_tokens=5, stop=("\n",))


@pytest.mark.llm_task("addition", metric="exact_match", requests=request)
@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_addition(llm, llm_record, case):
    output = llm.run(request(case)).text
    llm_record(exact_match(output, case["answer"]), output=output)
