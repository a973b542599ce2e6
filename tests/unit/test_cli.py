"""Re-selection from a saved run without re-running models: python -m pytest_llmselect report."""

from __future__ import annotations

import json
import math

import pytest

from pytest_llmselect.__main__ import main
from pytest_llmselect.analysis import SCHEMA_VERSION, AnalysisSettings, analyze
from pytest_llmselect.report import write_report


def saved_run(tmp_path):
    scores = {"cheap": [1, 0, 0, 1] * 10, "good": [1, 1, 1, 0] * 10}
    seconds = {"cheap": 4.0, "good": 400.0}
    inputs = {
        "candidates": [{"name": n, "spec": n, "num_parameters": 10, "loads": 1,
                        "price": {"usd_per_hour": 3.6, "source": "configured"}} for n in scores],
        "tasks": [{"name": "t", "metric": "exact_match", "higher_is_better": True, "min_quality": None,
                   "weight": 1.0}],
        "cases": [{"task": "t", "case_id": f"c{i}", "candidate": n, "score": float(s), "output": str(s),
                   "group": None} for n, ss in scores.items() for i, s in enumerate(ss)],
        "measures": {("t", n): {"model_seconds": seconds[n]} for n in scores},
    }
    report = {"schema_version": SCHEMA_VERSION, **analyze(inputs, AnalysisSettings(alpha=50.0)),
              "candidates": inputs["candidates"], "cases": inputs["cases"]}
    path = tmp_path / "run.json"
    write_report(report, path)
    return path, report


def test_reselect_with_another_alpha_follows_the_alpha_ranges(tmp_path, capsys):
    path, report = saved_run(tmp_path)
    assert report["selected"] == "good"
    lo, hi = report["tasks"][0]["alpha_ranges"]["cheap"]
    assert lo == 0 and hi is not None and hi < 50
    out = tmp_path / "low.json"
    assert main(["report", str(path), "--alpha", str(hi / 2), "--format", "json", "-o", str(out)]) == 0
    low = json.loads(out.read_text())
    assert low["selected"] == "cheap" and low["alpha"] == pytest.approx(hi / 2)
    # The per-case data is carried over untouched.
    assert low["cases"] == json.loads(path.read_text())["cases"]
    assert main(["report", str(path), "--alpha", str(hi * 2), "--format", "md"]) == 0
    md = capsys.readouterr().out
    assert "good" in md and "|" in md


def test_reselect_with_a_constraint(tmp_path):
    path, _ = saved_run(tmp_path)
    out = tmp_path / "c.json"
    assert main(["report", str(path), "--max-cost", "1.0", "--format", "json", "-o", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["selected"] == "cheap"
    assert "cost" in data["tasks"][0]["selection"]["excluded"]["good"]


def test_reselect_writes_html(tmp_path):
    path, _ = saved_run(tmp_path)
    out = tmp_path / "r.html"
    assert main(["report", str(path), "--format", "html", "-o", str(out)]) == 0
    assert out.read_text().lstrip().lower().startswith("<!doctype html")


@pytest.mark.parametrize("content,needle", [
    ('{"schema_version": 1, "tasks": [', "run.json"),
    ('{"schema_version": 99}', "newer"),
    ("[1, 2]", "run.json"),
])
def test_bad_saved_run_is_one_line(tmp_path, capsys, content, needle):
    path = tmp_path / "run.json"
    path.write_text(content)
    assert main(["report", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and needle in err and "\n" not in err


@pytest.mark.parametrize("alpha", ["-1", "lots", "inf"])
def test_bad_alpha_is_one_line(tmp_path, capsys, alpha):
    path, _ = saved_run(tmp_path)
    assert main(["report", str(path), "--alpha", alpha]) == 2
    err = capsys.readouterr().err
    assert "--alpha must be a non-negative" in err and err.count("\n") == 1


def test_missing_file(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope.json")]) == 2
    assert "nope.json" in capsys.readouterr().err


def test_report_math_inf_round_trip(tmp_path):
    path, report = saved_run(tmp_path)
    from pytest_llmselect.report import load_report

    again = load_report(path)
    assert again["tasks"][0]["alpha_ranges"]["good"][1] == math.inf
