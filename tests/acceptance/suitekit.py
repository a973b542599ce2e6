"""Helpers for end-to-end runs of the plugin through pytester (imported by tests and conftest)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "suites" / "data"


def head_jsonl(name: str, n: int) -> str:
    lines = [ln for ln in (DATA / name).read_text(encoding="utf-8").splitlines() if ln.strip()]
    return "\n".join(lines[:n]) + "\n"


# One task, one test that records 1.0: for checks made before any model runs.
ONE_TEST_SUITE = '''
import pytest
@pytest.mark.llm_task("t")
def test_t(llm, llm_record):
    llm_record(1.0)
'''


ADDITION_SUITE = '''
from pathlib import Path
import pytest
from pytest_llmselect import GenerateRequest, case_ids, exact_match, load_jsonl

CASES = load_jsonl(Path(__file__).parent / "data" / "addition.jsonl", required=("id", "prompt", "answer"))

def request(case):
    return GenerateRequest(case["prompt"], max_new_tokens=5, stop=("\\n",))

@pytest.mark.llm_task("addition", metric="exact_match", requests=request{extra})
@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_addition(llm, llm_record, case):
    output = llm.run(request(case)).text
    llm_record(exact_match(output, case["answer"]), output=output)
'''

LARGEST_SUITE = '''
from pathlib import Path
import pytest
from pytest_llmselect import case_ids, choice_requests, load_jsonl

CASES = load_jsonl(Path(__file__).parent / "data" / "largest.jsonl")

@pytest.mark.llm_task("largest", metric="choice_accuracy",
                      requests=lambda case: choice_requests(case["context"], case["choices"]))
@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_largest(llm, llm_record, case):
    picked = llm.choose(case["context"], case["choices"])
    llm_record(float(picked == case["answer"]), output=case["choices"][picked])
'''



def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
