"""benchmarks/compare_reports.py: every field compared except the run-specific ones."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "compare_reports.py"


@pytest.fixture(scope="module")
def compare():
    spec = importlib.util.spec_from_file_location("compare_reports", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REPORT = {
    "created": "2026-01-01T00:00:00+00:00", "run_id": "a", "machine": {"python": "3.12", "load_average_1min": 1.0},
    "tasks": [{"name": "t", "results": [{"candidate": "c", "n": 3, "mean": 0.5,
                                         "measures": {"model_seconds": 1.0, "flops": 10, "round_seconds": [1.0]}}]}],
    "cases": [{"case_id": "x", "score": 1.0}, {"case_id": "y", "score": float("nan")}],
}


def changed(**edits):
    report = json.loads(json.dumps(REPORT))
    for path, value in edits.items():
        *parents, last = path.split("/")
        node = report
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[last if isinstance(node, dict) else int(last)] = value
    return report


def test_run_specific_fields_are_ignored(compare):
    other = changed(created="later", run_id="b", **{"machine/load_average_1min": 9.0,
                                                     "tasks/0/results/0/measures/model_seconds": 2.0,
                                                     "tasks/0/results/0/measures/round_seconds": [2.0, 3.0]})
    assert list(compare.differences(REPORT, other)) == []


@pytest.mark.parametrize("path, value", [
    ("cases/0/score", 0.0),
    ("tasks/0/results/0/n", 4),
    ("tasks/0/results/0/measures/flops", 11),
    ("machine/python", "3.13"),
    ("cases/1/score", 0.0),
    ("cases/0/case_id", "z"),
])
def test_any_other_difference_is_named_by_its_path(compare, path, value):
    found = list(compare.differences(REPORT, changed(**{path: value})))
    assert [where for where, _, _ in found] == [path.replace("/", ".").replace(".0.", "[0].").replace(".1.", "[1].")]


def test_a_missing_case_and_a_missing_key_are_differences(compare):
    fewer = changed()
    fewer["cases"].pop()
    del fewer["tasks"][0]["results"][0]["mean"]
    found = {where for where, _, _ in compare.differences(REPORT, fewer)}
    assert found == {"cases (length)", "tasks[0].results[0].mean"}


def test_main_compares_two_files_and_fails_on_a_difference(compare, tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(REPORT))
    b.write_text(json.dumps(changed(run_id="other")))
    assert compare.main([str(a), str(b)]) == 0
    b.write_text(json.dumps(changed(**{"cases/0/score": 0.0})))
    assert compare.main([str(a), str(b)]) == 1
    assert "cases[0].score: 1.0 != 0.0" in capsys.readouterr().out
