"""Repeated sampling: two-digit addition sampled 5 times per case at temperature 0.8, each
case scored by pass@5 (Chen et al.'s unbiased estimator); the report adds pass@1 beside it.

    pytest examples/sampling --llm-candidates=zoo:tiny,zoo:base --llm-seed=0

Each (case, sample) is seeded from --llm-seed, the case id and the sample index: the same
texts on every run, at any --llm-batch-size and under -n.
"""

from pathlib import Path

import pytest

from pytest_llmselect import GenerateRequest, case_ids, exact_match, load_jsonl

DATA = Path(__file__).resolve().parents[2] / "suites" / "data" / "addition.jsonl"
CASES = load_jsonl(DATA, required=("id", "prompt", "answer"))[:40]


def request(case):
    return GenerateRequest(case["prompt"], max_new_tokens=5, stop=("\n",))


@pytest.mark.llm_task("addition-sampled", metric="exact_match", requests=request,
                      samples=5, temperature=0.8, reducer="pass@5")
@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_addition_sampled(llm, llm_record, case):
    outputs = llm.samples(request(case))
    llm_record(samples=[exact_match(o, case["answer"]) for o in outputs], output=outputs)
