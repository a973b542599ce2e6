"""Short instructions, scored robustly to phrasing.

"What is the opposite of hot? Answer with one word." is right as "Cold." and as "The
opposite of hot is cold.": `mentions` looks for an accepted answer as whole words, and a
rejected one ("no" on a yes/no question whose answer is yes) makes it wrong even beside a
right one. The prompt is a plain "User: ... Assistant:" exchange rather than a chat request,
so that every candidate can take it: a model without a chat template would fail each chat
case (see examples/test_chat_addition.py for chat requests)."""

from pathlib import Path

import pytest

from pytest_llmselect import GenerateRequest, case_ids, load_jsonl, mentions

# {"id": "instr-07", "instruction": "Is the sun a star? Answer yes or no.", "answers": ["yes"], "reject": ["no"]}
CASES = load_jsonl(Path(__file__).parent / "data" / "instructions.jsonl", required=("id", "instruction", "answers"))


def request(case):
    return GenerateRequest(f"User: {case['instruction']}\nAssistant:", max_new_tokens=16, stop=("\n",))


@pytest.mark.llm_task("instructions", metric="mentions", requests=request)
@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_instructions(llm, llm_record, case):
    output = llm.run(request(case)).text
    llm_record(mentions(output, case["answers"], reject=case.get("reject", ())), output=output)
