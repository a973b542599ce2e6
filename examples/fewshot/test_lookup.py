"""A task where the answer is only in a relevant demonstration.

Each case is a made-up word with a number ("pone 3"); its label (A-D) is in the pool
only, next to other numbered variants of the same word ("pone 1=D"). Which
demonstrations a case receives decides whether it can be answered: compare
strategies with

    pytest examples/fewshot --llm-candidates=zoo:lookup --llm-demos=random:4,knn:4,bm25:4
"""

from pathlib import Path

import pytest

from pytest_llmselect import GenerateRequest, case_ids, exact_match, load_jsonl
from pytest_llmselect.demos import DemoPool

DATA = Path(__file__).parent / "data"
CASES = load_jsonl(DATA / "lookup.jsonl", required=("id", "input", "answer"))
# One demonstration is written "pone 1=D" plus a newline; the case's own "input" field is
# compared with the pool's "input" field to choose its demonstrations.
POOL = DemoPool(DATA / "lookup-pool.jsonl", input="input", label="label", template="{input}={label}\n",
                default="random:4")


def request(case, demos):
    return GenerateRequest(demos.text + case["input"] + "=", max_new_tokens=2, stop=("\n",))


@pytest.mark.llm_task("lookup", metric="exact_match", requests=request, demos=POOL)
@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_lookup(llm, llm_record, llm_demos, case):
    output = llm.run(request(case, llm_demos)).text
    llm_record(exact_match(output, case["answer"]), output=output)
