"""Free-text task scored by token F1: list the multiples of n below a bound.

A partly right list earns partial credit, so this task separates models that
exact match would lump together as wrong.
"""

from pathlib import Path

import pytest

from pytest_llmselect import GenerateRequest, case_ids, load_jsonl, token_f1

CASES = load_jsonl(Path(__file__).parent / "data" / "multiples.jsonl", required=("id", "prompt", "answer"))


def request(case):
    return GenerateRequest(case["prompt"], max_new_tokens=40, stop=("\n",))


@pytest.mark.llm_task("multiples", metric="token_f1", requests=request)
@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_multiples(llm, llm_record, case):
    output = llm.run(request(case)).text
    llm_record(token_f1(output, case["answer"]), output=output)
