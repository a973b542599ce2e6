"""lm-eval itself and the importer, on the same task files, model and data, document by document.

lm-eval runs on the CPU on the zoo's ``small`` model (its ``hf`` model, ``pretrained=FOLDER``)
over the example task files in examples/lmeval/tasks, which cover four shapes: multiple choice
scored by acc_norm with two random demonstrations (lm-eval's seeded sampler), generate_until
with regex filters (one first_n demonstration, and none), loglikelihood, and
loglikelihood_rolling. The same files run through ``lmeval_suite`` under pytest. Compared per
document: the prompts and continuations, the predictions, the raw and filtered outputs, the
log-likelihoods (within 1e-4), each metric; and each task's aggregate.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from suitekit import REPO

pytest.importorskip("lm_eval")
pytest.importorskip("torch")
pytestmark = pytest.mark.slow

TASKS_DIR = REPO / "examples" / "lmeval" / "tasks"
TASKS = ("largest", "addition", "addition_zeroshot", "addition_loglikelihood", "multiples_rolling")
TOL = 1e-4


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    env.update(HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO))
    return env


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    from pytest_llmselect.zoo import zoo_path

    model = zoo_path("small")
    out = tmp_path_factory.mktemp("lmeval")
    ref = out / "lm_eval.json"
    # lm-eval reads data_files relative to the working directory; the task files' are relative to their folder
    subprocess.run([sys.executable, str(REPO / "tests" / "lmeval_kit" / "run_lm_eval.py"), str(model),
                    str(TASKS_DIR), str(ref), *TASKS], cwd=TASKS_DIR / "largest", env=_env(), check=True,
                   capture_output=True, timeout=900)
    ours = out / "ours.json"
    proc = subprocess.run([sys.executable, "-m", "pytest", str(REPO / "examples" / "lmeval"), "-q", "-p",
                           "no:cacheprovider", "--llm-candidates=zoo:small", f"--llm-report={ours}",
                           "--llm-run-log=", "--llm-cache=off", "--llm-cpu-threads=1", f"--rootdir={out}"],
                          cwd=out, env=_env(), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    reference = json.loads(ref.read_text())
    report = json.loads(ours.read_text())
    cases: dict = {}
    for case in report["cases"]:
        cases.setdefault(case["task"], {})[case["extra"]["doc_id"]] = case
    return reference, cases


def _reference(reference: dict, task: str) -> dict[int, dict[str, dict]]:
    """doc_id -> filter name -> lm-eval's sample."""
    out: dict[int, dict[str, dict]] = {}
    for sample in reference["samples"][task]:
        out.setdefault(sample["doc_id"], {})[sample["filter"]] = sample
    return out


def test_prompts_are_lm_evals(runs: tuple[dict, dict]) -> None:
    from pytest_llmselect.lmeval import build_cases, load_task

    reference, _ = runs
    checked = 0
    for task in TASKS:
        path = next(TASKS_DIR.rglob(f"{task}.yaml"))
        ours = build_cases(load_task(path))
        theirs = _reference(reference, task)
        assert sorted(theirs) == [c.doc_id for c in ours]
        for case in ours:
            sample = next(iter(theirs[case.doc_id].values()))
            args = [[r.context, r.continuation] if hasattr(r, "continuation") else [r.prompt] for r in case.requests]
            if task == "multiples_rolling":
                assert [[a[1]] for a in args] == sample["arguments"]
            elif hasattr(case.requests[0], "prompt"):
                assert [a[0] for a in args] == [a[0] for a in sample["arguments"]]
                assert sample["arguments"][0][1]["until"] == list(case.requests[0].stop)
                assert sample["arguments"][0][1]["max_gen_toks"] == case.requests[0].max_new_tokens
            else:
                assert args == sample["arguments"]
            checked += 1
    assert checked == 30 * 4 + 24


def test_multiple_choice_agrees(runs: tuple[dict, dict]) -> None:
    reference, cases = runs
    theirs = _reference(reference, "largest")
    for doc_id, sample in ((d, s["none"]) for d, s in theirs.items()):
        ours = cases["largest"][doc_id]["extra"]
        assert [g for _, g in ours["responses"]] == [g for _, g in sample["filtered_resps"]]
        for (ll, _), (ref_ll, _) in zip(ours["responses"], sample["filtered_resps"]):
            assert abs(ll - ref_ll) <= TOL, (doc_id, ll, ref_ll)
        assert ours["metrics"] == {f"{k},none": v for k, v in sample["metrics"].items()}
        assert cases["largest"][doc_id]["score"] == sample["metrics"]["acc_norm"]
    n = len(theirs)
    mean = sum(cases["largest"][d]["score"] for d in theirs) / n
    assert mean == pytest.approx(reference["results"]["largest"]["acc_norm,none"], abs=1e-12)


@pytest.mark.parametrize("task", ["addition", "addition_zeroshot"])
def test_generation_and_filters_agree(runs: tuple[dict, dict], task: str) -> None:
    from pytest_llmselect.lmeval.scoring import aggregate

    reference, cases = runs
    theirs = _reference(reference, task)
    right = 0
    for doc_id, by_filter in theirs.items():
        ours = cases[task][doc_id]["extra"]
        for name, sample in by_filter.items():
            assert ours["responses"] == sample["resps"][0], (doc_id, name)
            assert [ours["filtered"][name]] == sample["filtered_resps"], (doc_id, name)  # one request per document
            assert ours["metrics"][f"exact_match,{name}"] == sample["metrics"]["exact_match"]
        right += ours["metrics"]["exact_match,flexible-extract"] == 1.0
    for name in ("strict-match", "flexible-extract"):
        ours_agg = aggregate("mean", [cases[task][d]["extra"]["metrics"][f"exact_match,{name}"] for d in theirs])
        assert ours_agg == pytest.approx(reference["results"][task][f"exact_match,{name}"], abs=1e-12)
    if task == "addition_zeroshot":
        assert 0 < right < len(theirs)  # hits and misses both compared, not only misses


def test_loglikelihoods_agree(runs: tuple[dict, dict]) -> None:
    from pytest_llmselect.lmeval.scoring import aggregate

    reference, cases = runs
    for task, names in (("addition_loglikelihood", ("perplexity", "acc")),
                        ("multiples_rolling", ("word_perplexity", "byte_perplexity", "bits_per_byte"))):
        theirs = _reference(reference, task)
        items: dict[str, list] = {n: [] for n in names}
        for doc_id, by_filter in theirs.items():
            sample = by_filter["none"]
            ours = cases[task][doc_id]["extra"]
            first = sample["filtered_resps"][0]  # one request per document
            ref_ll = first[0] if task == "addition_loglikelihood" else first
            assert abs(ours["responses"][0][0] - ref_ll) <= TOL, (task, doc_id)
            for name in names:
                mine, ref = ours["metrics"][f"{name},none"], sample["metrics"][name]
                if isinstance(ref, list):
                    assert mine[1] == ref[1] and abs(mine[0] - ref[0]) <= TOL
                elif name == "acc":
                    assert mine == ref
                else:
                    assert abs(mine - ref) <= TOL
                items[name].append(mine)
        aggregation = {"perplexity": "perplexity", "acc": "mean", "word_perplexity": "weighted_perplexity",
                       "byte_perplexity": "weighted_perplexity", "bits_per_byte": "bits_per_byte"}
        for name in names:
            expected = reference["results"][task][f"{name},none"]
            assert aggregate(aggregation[name], items[name]) == pytest.approx(expected, rel=1e-4), (task, name)
