"""The README's own commands and example, read from README.md so the two cannot drift.

- the headline command (the main job: the example suites on the zoo and the real model, every
  report format),
  run as printed, on a copy of ``suites/`` with the repository's ini settings; ``-k``
  keeps one case per task so it costs seconds; the HTML it writes is opened in the
  headless browser (skipped without chromium, failed under LLMSELECT_REQUIRE_BROWSER);
- the complete example suite of "Write a task suite", written out as printed, with the
  data line its comment shows.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from suitekit import REPO, read_json

pytest.importorskip("torch")
pytest.importorskip("transformers")

pytestmark = pytest.mark.slow

README = (REPO / "README.md").read_text(encoding="utf-8")
_PARSER = configparser.ConfigParser()
_PARSER.read(REPO / "suites" / "pytest.ini", encoding="utf-8")
INI = dict(_PARSER["pytest"])  # the main job's own ini: suites/ is its pytest root
ALPHA = float(INI["llm_alpha"])


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", README, flags=re.S | re.M)


def headline_commands() -> list[list[str]]:
    """The two commands the README opens with: the pytest part of each line of its first block."""
    lines = [ln for ln in _blocks("bash")[0].splitlines() if ln.strip()]
    return [shlex.split(ln.rsplit("&&", 1)[1]) for ln in lines]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("GITHUB_STEP_SUMMARY", None)
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        env.pop(name, None)  # an inner run under an outer -n must not think it is a worker
    return env


def test_readme_opens_with_the_selection_and_the_tests():
    select, tests = headline_commands()
    assert select[:4] == ["python3", "-m", "pytest", "suites/"]
    assert {a for a in select if a.startswith("--llm-report=")} == {
        "--llm-report=run.json", "--llm-report=run.md", "--llm-report=run.html"}
    assert tests == ["python3", "-m", "pytest", "tests"]


def test_headline_command_selects_on_the_zoo_with_every_report_format(tmp_path: Path):
    select, _ = headline_commands()
    shutil.copytree(REPO / "suites", tmp_path / "suites")
    # One case of each task: the arithmetic suites' first, and one of each language suite.
    one_each = "000 or capital-france or review-00 or instr-00"
    cmd = [sys.executable, *select[1:], "-k", one_each, "-rf", "-p", "no:cacheprovider"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=900, check=False)
    out = proc.stdout + proc.stderr
    # The min_quality check items stay selected under -k and judge each candidate on its one
    # case here; the main job reports a candidate below a minimum (llm_checks = "report", an
    # xfailed item) rather than failing the run, so the command passes.
    assert INI["llm_checks"] == "report"
    assert proc.returncode == 0, out[-4000:]
    assert "LLM selection report" in out and "Selected overall" in out

    report = read_json(tmp_path / "run.json")
    names = [c["name"] for c in report["candidates"]]
    # The ini defaults in suites/pytest.ini: the zoo and the real model, cost from FLOPs.
    assert names == ["zoo:tiny", "zoo:small", "zoo:base", "zoo:wide", "zoo:smollm2-135m"]
    assert {t["name"] for t in report["tasks"]} == {"addition", "largest", "multiples",
                                                   "knowledge", "sentiment", "instructions"}
    assert report["selected"] in names and report["alpha"] == ALPHA
    assert report["settings"]["cost_model"] == "flops"
    assert len(report["cases"]) == 5 * 6 * 1
    real = next(c for c in report["candidates"] if c["name"] == "zoo:smollm2-135m")
    assert real["kind"] == "gguf" and real["quantization"]["type"] == "Q4_1"
    md = (tmp_path / "run.md").read_text(encoding="utf-8")
    assert f"Selected overall: {report['selected']}" in md.replace("**", "")
    html = (tmp_path / "run.html").read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html") and "<svg" in html

    # The HTML in the browser, with the browser test's helpers and its skip/require rule.
    import test_html_browser as browser

    if browser.CHROMIUM is None:
        if browser.REQUIRED:
            pytest.fail("LLMSELECT_REQUIRE_BROWSER is set but chromium is missing", pytrace=False)
        pytest.skip(browser._MISSING)
    result = browser._chromium(tmp_path, "--dump-dom", (tmp_path / "run.html").as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    dom = browser._Dom()
    dom.feed(result.stdout)
    text = "".join(dom.text)
    assert dom.tags.get("table", 0) >= 4 and "script" not in dom.tags
    assert f"Selected overall: {report['selected']}" in text
    # inline plots: the overall one and one per task
    assert dom.tags.get("svg", 0) == 1 + len(report["tasks"]) and dom.img_src == []


def example_suite() -> str:
    section = README.split("## Write a task suite", 1)[1]
    return re.search(r"^```python\n(.*?)^```", section, flags=re.S | re.M).group(1)


def test_readme_example_suite_runs_as_printed(pytester: pytest.Pytester):
    code = example_suite()
    # The data format its comment shows, taken from the comment itself.
    line = re.search(r"^# One JSON object per line: (\{.*\})$", code, flags=re.M).group(1)
    first = json.loads(line)
    rows = [first, {"id": "de", "prompt": "Capital of Germany:", "answer": "Berlin"}]
    pytester.mkdir("data")
    (pytester.path / "data" / "capitals.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    pytester.makepyfile(test_capitals=code)
    result = pytester.runpytest_subprocess("--llm-candidates=zoo:tiny", "--llm-report=run.json", "-rf",
                                           "-p", "no:cacheprovider")
    # Two cases recorded; the task's min_quality=0.8 adds one check item, which the untrained-
    # for-capitals tiny model fails with its quality and interval.
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["FAILED *llm_min_quality[[]capitals-zoo:tiny[]]*"])
    report = read_json(pytester.path / "run.json")
    (task,) = report["tasks"]
    assert task["name"] == "capitals" and task["metric"] == "exact_match" and task["min_quality"] == 0.8
    assert {c["case_id"] for c in report["cases"]} == {"fr", "de"}
    assert task["generation"] == [{"kind": "generate", "max_new_tokens": 8, "stop": ["\n"]}]
    (row,) = task["results"]
    assert row["min_quality_passed"] is False and row["quality"] < 0.8
