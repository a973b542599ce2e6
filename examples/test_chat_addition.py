"""Chat messages instead of a raw prompt: the addition suite, each case asked as a user turn."""

from pathlib import Path

import pytest

from pytest_llmselect import GenerateRequest, case_ids, exact_match, load_jsonl

CASES = load_jsonl(Path(__file__).parents[1] / "suites" / "data" / "addition.jsonl")


def request(case):
    return GenerateRequest.chat([{"role": "user", "content": case["prompt"]}], max_new_tokens=5, stop=("\n",))


@pytest.mark.llm_task("chat-addition", metric="exact_match", requests=request)
@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_chat_addition(llm, llm_record, case):
    output = llm.run(request(case)).text
    llm_record(exact_match(output, case["answer"]), output=output)
