"""Generation task scored by whole-word mention: world knowledge as a sentence to complete
("The capital of Peru is" -> "Lima"). A raw prompt, so every model can take it; a
general model answers in its own words ("Lima, the largest city ..."), which `mentions`
accepts, while an answer that only contains the letters ("Limassol") does not count."""

from pathlib import Path

import pytest

from pytest_llmselect import GenerateRequest, case_ids, load_jsonl, mentions

# {"id": "capital-peru", "prompt": "The capital of Peru is", "answers": ["Lima"], "kind": "capital"}
CASES = load_jsonl(Path(__file__).parent / "data" / "knowledge.jsonl", required=("id", "prompt", "answers"))


def request(case):
    return GenerateRequest(case["prompt"], max_new_tokens=6, stop=("\n", "."))


@pytest.mark.llm_task("knowledge", metric="mentions", requests=request)
@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_knowledge(llm, llm_record, case):
    output = llm.run(request(case)).text
    llm_record(mentions(output, case["answers"]), output=output)
