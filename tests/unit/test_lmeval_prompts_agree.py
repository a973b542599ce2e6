"""Prompts and requests of the importer against lm-eval's own ConfigurableTask, for task shapes the
model-level agreement test does not run: multiple inputs (winogrande), gen_prefix, a described
few-shot prompt with lm-eval's seeded sampler drawing from the evaluation split itself, a
doc_to_choice template, several targets. No model: only the requests are compared."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

lm_eval = pytest.importorskip("lm_eval")

from pytest_llmselect.lmeval.build import build_cases  # noqa: E402
from pytest_llmselect.lmeval.config import load_task  # noqa: E402

DOCS = [
    {"sentence": f"The {a} did not fit in the {b} because _ was too big.", "option1": a, "option2": b,
     "answer": str(1 + i % 2), "q": f"{i}+{i + 3}", "sum": str(2 * i + 3), "golds": [str(2 * i + 3), f"{2 * i + 3}.0"],
     "letters": ["A", "B", "C"], "label": i % 3, "topic": "sums" if i % 2 else "numbers"}
    for i, (a, b) in enumerate([("trophy", "suitcase"), ("ball", "box"), ("car", "garage"), ("cake", "tin"),
                                ("book", "bag"), ("sofa", "door"), ("piano", "van"), ("tree", "pot")])
]

SHAPES = {
    "winogrande": """
output_type: multiple_choice
doc_to_text: !function preprocess.doc_to_text
doc_to_target: !function preprocess.partial_target
doc_to_choice: !function preprocess.doc_to_choice
num_fewshot: 2
""",
    "described_sampled_from_test": """
output_type: multiple_choice
description: "Questions about {{topic}}.\\n\\n"
doc_to_text: "Q: {{q}}\\nA:"
doc_to_target: label
doc_to_choice: "{{letters}}"
num_fewshot: 3
""",
    "gen_prefix_first_n": """
output_type: generate_until
doc_to_text: "{{q}}"
doc_to_target: sum
gen_prefix: "Sum:"
fewshot_split: test
fewshot_config:
  sampler: first_n
num_fewshot: 2
generation_kwargs:
  until: ["\\n", "."]
  max_gen_toks: 4
""",
    "several_targets": """
output_type: generate_until
doc_to_text: "{{q | regex_replace('\\\\+', ' plus ')}} ="
doc_to_target: golds
target_delimiter: ""
fewshot_delimiter: "\\n"
num_fewshot: 1
""",
    "loglikelihood_described": """
output_type: loglikelihood
description: "Add.\\n"
doc_to_text: "{{q}}="
doc_to_target: "{{sum}}"
num_fewshot: 2
""",
}

PREPROCESS = '''
def doc_to_choice(doc):
    idx = doc["sentence"].index("_")
    return [doc["sentence"][:idx] + doc["option1"], doc["sentence"][:idx] + doc["option2"]]


def partial_target(doc):
    idx = doc["sentence"].index("_") + 1
    return " " + doc["sentence"][idx:].strip()


def _int_answer(doc):
    return int(doc["answer"]) - 1


def doc_to_text(doc):
    return _int_answer(doc)
'''


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shapes")
    (root / "docs.jsonl").write_text("".join(json.dumps(d) + "\n" for d in DOCS), encoding="utf-8")
    (root / "preprocess.py").write_text(PREPROCESS, encoding="utf-8")
    return root


def _theirs(path: Path) -> dict[int, list]:
    from lm_eval.api.task import ConfigurableTask
    from lm_eval.tasks._yaml_loader import load_yaml

    cwd = os.getcwd()
    os.chdir(path.parent)  # lm-eval reads data_files relative to the working directory
    try:
        task = ConfigurableTask(config=load_yaml(path))
        task.set_fewshot_seed(1234)
        task.build_all_requests(rank=0, world_size=1)
    finally:
        os.chdir(cwd)
    out: dict[int, list] = {}
    for inst in sorted(task.instances, key=lambda i: (i.doc_id, i.idx)):
        args = list(inst.arguments)
        if isinstance(args[-1], dict):
            args[-1] = {"until": args[-1]["until"], "max_gen_toks": args[-1].get("max_gen_toks", 256)}
        out.setdefault(inst.doc_id, []).append(args)
    return out


def _ours(path: Path) -> dict[int, list]:
    out = {}
    for case in build_cases(load_task(path)):
        rows = []
        for req in case.requests:
            if hasattr(req, "prompt"):
                rows.append([req.prompt, {"until": list(req.stop), "max_gen_toks": req.max_new_tokens}])
            else:
                rows.append([req.context, req.continuation])
        out[case.doc_id] = rows
    return out


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_requests_are_lm_evals(folder: Path, shape: str) -> None:
    path = folder / f"{shape}.yaml"
    body = SHAPES[shape]
    path.write_text(f"task: {shape}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: docs.jsonl\n"
                    f"test_split: test\n{body}", encoding="utf-8")
    theirs, ours = _theirs(path), _ours(path)
    assert sorted(ours) == sorted(theirs) == list(range(len(DOCS)))
    for doc_id in theirs:
        assert ours[doc_id] == theirs[doc_id], doc_id
