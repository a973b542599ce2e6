"""Classification by log-likelihood: is a one-line review positive or negative.

The model is never asked to write anything: the two labels are scored as continuations of
the review and the more likely one is its answer, so the phrasing of an answer cannot
matter and a model without any instruction tuning is judged on what it knows."""

from pathlib import Path

import pytest

from pytest_llmselect import case_ids, choice_requests, load_jsonl

# {"id": "review-00", "context": "Review: ...\nSentiment:", "choices": [" positive", " negative"], "answer": 0}
CASES = load_jsonl(Path(__file__).parent / "data" / "sentiment.jsonl", required=("id", "context", "choices", "answer"))


def requests(case):
    return choice_requests(case["context"], case["choices"])


@pytest.mark.llm_task("sentiment", metric="choice_accuracy", requests=requests)
@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_sentiment(llm, llm_record, case):
    picked = llm.choose(case["context"], case["choices"])
    llm_record(float(picked == case["answer"]), output=case["choices"][picked].strip())
