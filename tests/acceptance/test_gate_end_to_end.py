"""The CI gate end to end through pytester: stored runs, verdict items, summary, bad input.

Two kinds of runs:

- plumbing tests use one tiny random model (built here, loads in well under a second) under
  several candidate names, and a suite that records scores read from a file, so every
  verdict is known in advance;
- the zoo tests (``slow``) gate real, self-trained models: a copy of ``zoo:small`` must
  PASS against ``zoo:small``, the under-trained recipe must FAIL, and a cut-down suite must
  be INCONCLUSIVE.
"""

from __future__ import annotations

import json
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from suitekit import LARGEST_SUITE, head_jsonl, read_json
from tests.gate_samples import bernoulli, degrade

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

pytest.importorskip("torch")
pytest.importorskip("transformers")

pytestmark = pytest.mark.slow  # every test here runs pytest sessions that load models


@pytest.fixture(autouse=True)
def _no_real_job_summary(monkeypatch):
    # Under GitHub Actions this variable is set for the real job: inner runs must not write to it.
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    # As on CI: the short summary keeps whole verdict lines instead of trimming them to 80 columns.
    monkeypatch.setenv("CI", "true")


# ---- plumbing: scores from a file, one tiny model under several names ---------------------

SCORED_SUITE = '''
import json
from pathlib import Path
import pytest

DATA = json.loads((Path(__file__).parent / "scores_{task}.json").read_text())

@pytest.mark.llm_task("{task}", metric="exact_match")
@pytest.mark.parametrize("case", [{{"id": i}} for i in DATA["ids"]], ids=DATA["ids"])
def test_{task}(llm, llm_record, case):
    llm_record(DATA["scores"][llm.name][case["id"]], output="-")
'''


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from helpers_tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("gate") / "model", seed=0)


BASE = bernoulli(120, 0.9, seed=1)
FEW = [1.0, 0.0, 1.0, 1.0]


class Scored:
    """Writes a suite whose candidates (all the tiny model) score what we tell them."""

    def __init__(self, pt: pytest.Pytester, model: Path) -> None:
        self.pt, self.model = pt, model

    def write(self, scores: dict[str, dict[str, list[float]]], ids: dict[str, list[str]] | None = None) -> None:
        """``scores``: task -> candidate -> per-case scores; one test file per task (replacing the last suite)."""
        for old in [*self.pt.path.glob("test_*.py"), *self.pt.path.glob("scores_*.json")]:
            old.unlink()
        for task, per in scores.items():
            n = len(next(iter(per.values())))
            task_ids = (ids or {}).get(task) or [f"{task}-{i:04d}" for i in range(n)]
            data = {"ids": task_ids, "scores": {c: dict(zip(task_ids, s)) for c, s in per.items()}}
            (self.pt.path / f"scores_{task}.json").write_text(json.dumps(data))
            self.pt.makepyfile(**{f"test_{task}": SCORED_SUITE.format(task=task)})
        names = sorted({c for per in scores.values() for c in per})
        toml = "".join(f'[[candidate]]\nspec = "{self.model.as_posix()}"\nname = "{c}"\n' for c in names)
        (self.pt.path / "cands.toml").write_text(toml)

    def run(self, *args: str) -> pytest.RunResult:
        return self.pt.runpytest_inprocess("--llm-candidates=@cands.toml", "-p", "no:cacheprovider", *args)


@pytest.fixture
def scored(pytester: pytest.Pytester, tiny_model: Path) -> Scored:
    return Scored(pytester, tiny_model)


def save_baseline(scored: Scored, name: str = "main") -> Path:
    scored.write({"add": {"m": BASE}, "few": {"m": FEW}})
    result = scored.run(f"--llm-save={name}")
    assert result.ret == 0, result.stdout.str()
    return scored.pt.path / ".llmselect" / "runs" / f"0001_{name}.json"


def test_stored_run_is_numbered_and_self_describing(scored):
    path = save_baseline(scored)
    run = read_json(path)
    assert run["saved"] == {"number": 1, "name": "main"}
    assert run["selected"] == "m" and len(run["cases"]) == 124 and run["machine"]["python"]
    assert run["suite"]["fingerprint"] and {t["name"] for t in run["tasks"]} == {"add", "few"}
    result = scored.run("--llm-save")
    assert result.ret == 0
    assert (scored.pt.path / ".llmselect" / "runs" / "0002_run.json").is_file()
    result.stdout.fnmatch_lines(["*llmselect: stored this run as *0002_run.json"])


def test_verdict_items_exit_code_junit_and_summary(scored, monkeypatch):
    save_baseline(scored)
    step_summary = scored.pt.path / "step-summary.md"
    step_summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    scored.write({"add": {"copy": BASE, "worse": degrade(BASE, 40)}, "few": {"copy": FEW, "worse": FEW}})
    result = scored.run("--llm-baseline=1", "--llm-margin=0.05", "-rA", "--junitxml=junit.xml",
                        "--llm-summary=gate.md", "--llm-report=run.json")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=2 * 124 + 1, failed=1, skipped=2)
    result.stdout.fnmatch_lines_random([
        "*llmselect gate: baseline .llmselect/runs/0001_main.json (stored run 0001 'main'), incumbent m, margin 0.05",
        "PASSED test_add.py::llm_gate[[]add-copy[]]",
        "FAILED test_add.py::llm_gate[[]add-worse[]] - FAIL add worse vs m; diff -0.333 [[]-0.*, -0.*[]]*",
        "SKIPPED [[]1[]] test_few.py:*: INCONCLUSIVE few copy vs m; diff +0.000 [[]-0.*, +0.*[]]*shared cases needed*",
        "SKIPPED [[]1[]] test_few.py:*: INCONCLUSIVE few worse vs m; *",
    ])
    # -rA's PASSES section shows the passing verdict's line too.
    result.stdout.fnmatch_lines(["*= PASSES =*", "*_ llm_gate[[]add-copy[]] _*", "*Captured stdout call*",
                                 "PASS add copy vs m; diff +0.000*"])
    # Gate items run last, after every case.
    lines = [ln for ln in result.outlines if "::" in ln and ("PASSED" in ln or "FAILED" in ln)]
    assert "llm_gate" not in "".join(lines[:2 * 124])

    cases = {c.get("name"): c for c in ET.parse(scored.pt.path / "junit.xml").getroot().iter("testcase")}
    failure = cases["llm_gate[add-worse]"].find("failure")
    assert failure is not None and failure.get("message").startswith("FAIL add worse vs m; diff -0.333")
    skipped = cases["llm_gate[few-copy]"].find("skipped")
    assert skipped is not None and "INCONCLUSIVE few copy vs m" in skipped.get("message")
    props = {p.get("name"): p.get("value") for p in cases["llm_gate[add-copy]"].iter("property")}
    assert props["llm_gate_verdict"] == "PASS" and props["llm_gate_n_shared"] == "120"

    summary = step_summary.read_text()
    assert summary.startswith("earlier step\n## \u274c LLM gate: FAIL (the job fails)")
    assert "| add | worse | \u274c FAIL |" in summary and "| few | copy | \u26a0\ufe0f INCONCLUSIVE |" in summary
    assert (scored.pt.path / "gate.md").read_text() == summary[len("earlier step\n"):]
    # The run's own report is written as usual.
    assert read_json(scored.pt.path / "run.json")["selected"] in {"copy", "worse"}
    result.stdout.fnmatch_lines(["*= LLM gate =*", "gate FAIL against *0001_main.json*"])


def test_inconclusive_passes_the_job_unless_strict(scored):
    save_baseline(scored)
    scored.write({"add": {"copy": BASE}, "few": {"copy": FEW}})
    result = scored.run("--llm-baseline=main", "--llm-margin=0.05")
    assert result.ret == 0
    result.assert_outcomes(passed=125, skipped=1)
    result = scored.run("--llm-baseline=latest", "--llm-margin=0.05", "--llm-strict", "-rf")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=125, failed=1)
    result.stdout.fnmatch_lines(["FAILED *llm_gate[[]few-copy[]] - INCONCLUSIVE*(INCONCLUSIVE fails under --llm-strict)"])


def test_other_suite_version_compares_on_the_intersection(scored):
    save_baseline(scored)
    ids = [f"add-{i:04d}" for i in range(60, 180)]  # 60 shared cases, 60 new ones
    scored.write({"add": {"copy": BASE[60:] + BASE[:60]}}, ids={"add": ids})
    result = scored.run("--llm-baseline=1", "--llm-margin=0.1", "-rA", "--llm-summary=gate.md")
    result.stdout.fnmatch_lines([
        "*llm_gate[[]add-copy[]]*",
    ])
    line = next(ln for ln in result.outlines if ln.startswith("PASS add copy vs m"))
    assert "n=60" in line and "unmatched: 60 baseline / 60 current" in line
    md = (scored.pt.path / "gate.md").read_text()
    assert "60 baseline case(s) of 'add' not in this run ('add-0000', 'add-0001', 'add-0002', ...)" in md
    assert "60 case(s) of 'add' in this run not in the baseline" in md
    assert "the suite differs from the baseline's (fingerprint" in md
    assert "task(s) only in the baseline, not compared: few" in md


def test_no_shared_case_is_one_clear_error_and_results_are_written(scored):
    save_baseline(scored)
    ids = [f"other-{i}" for i in range(10)]
    scored.write({"add": {"a": BASE[:10], "b": BASE[:10]}}, ids={"add": ids})
    result = scored.run("--llm-baseline=1", "--llm-report=run.json", "--llm-save=pr", "-rA")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=20, failed=1, skipped=1)
    result.stdout.fnmatch_lines(["FAILED *llm_gate[[]add-a[]] - ERROR no case of this run matches the baseline*"])
    assert read_json(scored.pt.path / "run.json")["cases"]
    assert (scored.pt.path / ".llmselect" / "runs" / "0002_pr.json").is_file()


def _truncated(p: Path, baseline: Path) -> str:
    text = baseline.read_text()
    p.write_text(text[: len(text) // 2])
    return str(p)


def _foreign(p: Path, baseline: Path) -> str:
    p.write_text(json.dumps({"machine_info": {}, "benchmarks": []}))  # a pytest-benchmark file
    return str(p)


def _newer(p: Path, baseline: Path) -> str:
    p.write_text(json.dumps({**read_json(baseline), "schema_version": 99}))
    return str(p)


@pytest.mark.parametrize(("make", "extra", "message"), [
    (lambda p, b: "nowhere/missing.json", [], "*nowhere/missing.json: no such baseline file*"),
    (lambda p, b: "7", [], "*--llm-baseline 7: no stored run number 7 in *runs (stored: 0001 (main))*"),
    (_truncated, [], "*bad.json: truncated JSON*interrupted*"),
    (_foreign, [], "*bad.json: missing required field 'schema_version'; not a pytest-llmselect run report*"),
    (_newer, [], "*bad.json: schema_version 99 is newer than this pytest-llmselect supports*"),
    (lambda p, b: "1", ["--llm-margin=-0.1"], "*--llm-margin must be a finite number >= 0, got -0.1*"),
    (lambda p, b: "1", ["--llm-margin=lots"], "*--llm-margin must be a number, got 'lots'*"),
    (lambda p, b: "1", ["--llm-incumbent=gpt9"],
     "*--llm-incumbent 'gpt9' is not a candidate of the baseline *0001_main.json* (it has: m)*"),
])
def test_bad_gate_input_is_one_error_and_the_run_is_still_written(scored, make, extra, message):
    baseline = save_baseline(scored)
    spec = make(scored.pt.path / "bad.json", baseline)
    scored.write({"add": {"c": BASE[:20]}, "few": {"c": FEW}})
    result = scored.run(f"--llm-baseline={spec}", *extra, "--llm-report=run.json", "--llm-save=pr", "-rf",
                        "--llm-summary=gate.md")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=24, failed=1)
    result.stdout.fnmatch_lines([f"llmselect gate: ERROR {message}", f"FAILED *llm_gate[[]baseline[]] - ERROR {message}"])
    out = result.stdout.str()
    assert "Traceback" not in out and len([ln for ln in result.outlines if ln.startswith("FAILED")]) == 1
    assert read_json(scored.pt.path / "run.json")["cases"]
    assert (scored.pt.path / ".llmselect" / "runs" / "0002_pr.json").is_file()
    assert (scored.pt.path / "gate.md").read_text().startswith("## \u274c LLM gate: ERROR")


def test_under_xdist_workers_judge_their_candidate_and_the_controller_summarises(scored):
    pytest.importorskip("xdist")
    save_baseline(scored)
    scored.write({"add": {"copy": BASE[:60], "worse": degrade(BASE[:60], 20)}})
    result = scored.run("--llm-baseline=1", "--llm-margin=0.1", "-n", "2", "-rfE", "--llm-summary=gate.md")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=121, failed=1)
    result.stdout.fnmatch_lines(["FAILED *llm_gate[[]add-worse[]] - FAIL add worse vs m; diff -0.333*"])
    md = (scored.pt.path / "gate.md").read_text()
    assert "| add | copy | \u2705 PASS |" in md and "| add | worse | \u274c FAIL |" in md


def test_no_gate_items_without_a_baseline(scored):
    scored.write({"few": {"m": FEW}})
    result = scored.run("--collect-only", "-q")
    assert "llm_gate" not in result.stdout.str()
    result = scored.run("--collect-only", "-q", "--llm-baseline=missing.json")  # nothing stored: one error item
    result.stdout.fnmatch_lines(["test_few.py::llm_gate[[]baseline[]]"])


# ---- the zoo: real models --------------------------------------------------------------------


def zoo_small_dir() -> Path:
    from pytest_llmselect.zoo import zoo_path  # trains and caches the model on first use

    return Path(zoo_path("small"))


def largest_suite(pt: pytest.Pytester, n: int) -> None:
    # `largest` separates zoo:small (0.78 held out) from its under-trained recipe (0.45) by far
    # more than any margin; on addition both are too weak (0.15 vs 0.03) for a robust FAIL.
    data = pt.path / "data"
    data.mkdir(exist_ok=True)
    (data / "largest.jsonl").write_text(head_jsonl("largest.jsonl", n), encoding="utf-8")
    pt.makepyfile(test_largest=LARGEST_SUITE)


def gate_line(result: pytest.RunResult, candidate: str) -> str:
    for verdict in ("PASS", "FAIL", "INCONCLUSIVE"):
        for ln in result.outlines:
            if ln.startswith(f"{verdict} largest {candidate} vs zoo:small"):
                return ln
    raise AssertionError(f"no gate line for {candidate}:\n{result.stdout.str()}")


@pytest.fixture(scope="module")
def _models_imported_outside() -> None:
    # pytester's in-process runs drop the modules they imported when they end; torch's C++
    # operator registrations cannot be redone, so a second inner run that re-imports them
    # fails. Loading a model here first keeps those modules imported for every inner run.
    from pytest_llmselect.backends.hf import HFBackend

    from pytest_llmselect.backends.base import GenerateRequest, LoglikelihoodRequest

    backend = HFBackend.load(str(zoo_small_dir()), device="cpu")
    backend.generate([GenerateRequest("1+1=", max_new_tokens=2)])
    backend.loglikelihood([LoglikelihoodRequest("largest of 1 2:", " 2")])
    backend.close()


@pytest.fixture
def zoo_baseline(pytester: pytest.Pytester, _models_imported_outside: None):
    """Store a zoo:small run on the first ``n`` largest cases; returns pytester."""

    def make(n: int) -> pytest.Pytester:
        largest_suite(pytester, n)
        result = pytester.runpytest_inprocess("--llm-candidates=zoo:small", "--llm-save=small", "-p",
                                              "no:cacheprovider")
        assert result.ret == 0, result.stdout.str()
        return pytester

    return make


ZOO_CASES = 100


def test_zoo_undertrained_fails_and_identical_copy_passes(zoo_baseline):
    pt = zoo_baseline(ZOO_CASES)
    shutil.copytree(zoo_small_dir(), pt.path / "small-copy")
    result = pt.runpytest_inprocess("--llm-candidates=zoo:small-undertrained,small-copy", "--llm-baseline=small",
                                    "--llm-margin=0.05", "-rA", "--llm-summary=gate.md", "-p", "no:cacheprovider")
    print(result.stdout.str()[-3000:])
    fail, ok = gate_line(result, "zoo:small-undertrained"), gate_line(result, "small-copy")
    assert fail.startswith("FAIL ") and f"n={ZOO_CASES}" in fail
    assert ok.startswith("PASS largest small-copy vs zoo:small; diff +0.000")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines_random([
        "FAILED test_largest.py::llm_gate[[]largest-zoo:small-undertrained[]] - FAIL *",
        "PASSED test_largest.py::llm_gate[[]largest-small-copy[]]",
    ])


def test_zoo_cut_down_suite_is_inconclusive(zoo_baseline):
    pt = zoo_baseline(4)
    shutil.copytree(zoo_small_dir(), pt.path / "small-copy")
    result = pt.runpytest_inprocess("--llm-candidates=small-copy", "--llm-baseline=1", "-rA", "-p",
                                    "no:cacheprovider")
    print(result.stdout.str()[-2000:])
    line = gate_line(result, "small-copy")
    assert line.startswith("INCONCLUSIVE ") and "n=4" in line and "shared cases needed" in line
    assert result.ret == 0
    result = pt.runpytest_inprocess("--llm-candidates=small-copy", "--llm-baseline=1", "--llm-strict", "-p",
                                    "no:cacheprovider")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
