"""The README's "Open-ended answers" section: its example suite and both commands, run as printed
(the suite read from README.md, the data from examples/open_ended/data)."""

from __future__ import annotations

import re
import shlex
import shutil

import pytest

from suitekit import REPO, read_json

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("jinja2")
pytest.importorskip("sentence_transformers")

pytestmark = pytest.mark.slow

SECTION = (REPO / "README.md").read_text(encoding="utf-8").split(
    "## Open-ended answers: judges, semantic similarity, repeated sampling", 1)[1].split("\n## ", 1)[0]


def _commands() -> list[list[str]]:
    blocks = re.findall(r"^```bash\n(.*?)^```", SECTION, flags=re.S | re.M)
    return [shlex.split(b.strip()) for b in blocks]


def test_the_example_file_is_the_readme_suite() -> None:
    code = re.search(r"^```python\n(.*?)^```", SECTION, flags=re.S | re.M).group(1)
    assert (REPO / "examples" / "open_ended" / "test_open_ended.py").read_text(encoding="utf-8") == code


def test_the_judged_example_runs_as_printed(pytester: pytest.Pytester) -> None:
    judged, _ = _commands()
    assert judged[:4] == ["python3", "-m", "pytest", "examples/open_ended"]
    shutil.copytree(REPO / "examples" / "open_ended", pytester.path / "examples" / "open_ended")
    result = pytester.runpytest_subprocess(*judged[3:], "--llm-report=run.json", "-p", "no:cacheprovider",
                                           "--llm-cache=off")
    assert result.ret == 0, result.stdout.str()[-3000:]
    report = read_json(pytester.path / "run.json")
    assert {t["name"] for t in report["tasks"]} == {"open-judged", "open-similarity"}
    judged_task = next(t for t in report["tasks"] if t["name"] == "open-judged")
    (agree,) = judged_task["judge"]["agreement"]
    assert agree["reference"] == "semantic_similarity" and agree["method"] == "spearman"
    (cost,) = report["evaluation_cost"]
    assert cost["judge"] == "zoo:tiny" and cost["loads"] == 1 and cost["grades"] == 24
    # the header's evaluation cost first, then the task's judge agreement, as the README shows it
    result.stdout.fnmatch_lines(["Evaluation cost: judge zoo:tiny*", "Judge agreement: judge zoo:tiny graded 24*"])
    printed = re.search(r"^(Judge agreement: .*\n.*)$", SECTION, flags=re.M).group(1)
    assert printed in result.stdout.str()  # the README's line is this run's (seeded, greedy: reproducible)


def test_the_sampling_example_runs_as_printed(pytester: pytest.Pytester) -> None:
    _, sampled = _commands()
    assert sampled[:4] == ["python3", "-m", "pytest", "examples/sampling"]
    shutil.copytree(REPO / "examples" / "sampling", pytester.path / "examples" / "sampling")
    (pytester.path / "suites" / "data").mkdir(parents=True)
    shutil.copy(REPO / "suites" / "data" / "addition.jsonl", pytester.path / "suites" / "data")
    result = pytester.runpytest_subprocess(*sampled[3:], "--llm-report=run.json", "-p", "no:cacheprovider",
                                           "--llm-cache=off")
    assert result.ret == 0, result.stdout.str()[-3000:]
    rows = {r["candidate"]: r for r in read_json(pytester.path / "run.json")["tasks"][0]["results"]}
    printed = re.findall(r"^\s+(zoo:\w+)\s+5\s+(\S+) \[(\S+), (\S+)\]\s+(\S+) \[", SECTION, flags=re.M)
    assert [p[0] for p in printed] == ["zoo:tiny", "zoo:base"]
    for name, p1, _, _, p5 in printed:  # the README's figures are this run's (seeded: reproducible)
        assert f"{rows[name]['sampling']['pass@1']['value']:.3f}" == p1
        assert f"{rows[name]['sampling']['pass@5']['value']:.3f}" == p5
    result.stdout.fnmatch_lines(["*Repeated sampling: pass@k*"])
