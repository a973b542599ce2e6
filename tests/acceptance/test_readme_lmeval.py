"""The README's "Your lm-eval tasks as suites" section: its suite is the example file, word for
word, and its command runs as printed (on a copy of the example folder, with the repository's
ini settings) and imports every task."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from suitekit import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
SECTION = README.split("## Your lm-eval tasks as suites", 1)[1].split("\n## ", 1)[0]
EXAMPLE = REPO / "examples" / "lmeval"


def _block(lang: str) -> str:
    found = re.findall(rf"^```{lang}\n(.*?)^```", SECTION, flags=re.S | re.M)
    assert found, f"no {lang} block in the README's lm-eval section"
    return found[0]


def test_the_readme_suite_is_the_example_file() -> None:
    assert _block("python") == (EXAMPLE / "test_lmeval_tasks.py").read_text(encoding="utf-8")


@pytest.mark.slow
def test_the_readme_command_runs_as_printed(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("datasets")
    line = next(ln for ln in _block("bash").splitlines() if " pytest " in ln)
    argv = shlex.split(line)
    assert argv[:3] == ["python3", "-m", "pytest"] and argv[3] == "examples/lmeval"
    shutil.copytree(EXAMPLE, tmp_path / "examples" / "lmeval")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run([sys.executable, *argv[1:], "-p", "no:cacheprovider", "--llm-run-log=",
                           "--llm-report=report.json", "--llm-cpu-threads=1", "--llm-benchmark-rounds=1"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    report = json.loads((tmp_path / "report.json").read_text())
    tasks = {t["name"]: t for t in report["tasks"]}
    assert sorted(tasks) == ["addition", "addition_loglikelihood", "addition_zeroshot", "largest", "multiples_rolling"]
    assert sorted(t["n_cases"] for t in tasks.values()) == [24, 30, 30, 30, 30]
    assert tasks["largest"]["metric"] == "acc_norm" and tasks["multiples_rolling"]["higher_is_better"] is False
    assert report["selected"] in ("zoo:small", "zoo:base")
