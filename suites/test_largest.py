"""Multiple-choice task scored by log-likelihood: which of four numbers is largest."""

from pathlib import Path

import pytest

from pytest_llmselect import case_ids, choice_requests, load_jsonl

CASES = load_jsonl(Path(__file__).parent / "data" / "largest.jsonl", required=("id", "context", "choices", "answer"))


def requests(case):
    return choice_requests(case["context"], case["choices"])


# Four choices: guessing scores 0.25, so a model must beat chance clearly to pass.
@pytest.mark.llm_task("largest", metric="choice_accuracy", min_quality=0.3, requests=requests)
@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_largest(llm, llm_record, case):
    picked = llm.choose(case["context"], case["choices"])
    llm_record(float(picked == case["answer"]), output=case["choices"][picked].strip())
