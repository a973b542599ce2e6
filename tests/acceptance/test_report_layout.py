"""The report as a person reads it in a terminal or CI log: the answer first, the log ending
on the decision, method text behind -v, every option's default in --help (issue 23)."""

from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.slow

TWO = "--llm-candidates=zoo:tiny,zoo:small"


def _report_block(lines: list[str]) -> list[str]:
    start = next(i for i, ln in enumerate(lines) if ln.startswith("=== pytest-llmselect report"))
    end = max(i for i in range(start, len(lines)) if lines[i].startswith("Selected overall: "))
    return lines[start:end + 1]


def test_answer_first_and_the_log_ends_on_the_decision(suite):
    pt = suite()
    result = pt.runpytest_subprocess(TWO, "--llm-alpha=50", "--benchmark-json=bench.json")
    result.assert_outcomes(passed=2 * (12 + 8))
    lines = result.outlines
    block = _report_block(lines)
    # The summary (picks per task, how sure, alpha range) comes before any detail table.
    details = next(i for i, ln in enumerate(block) if ln.startswith("--- Details"))
    assert details <= 25
    summary = "\n".join(block[:details])
    assert re.search(r"^Selected overall: zoo:\w+ \((clear|NOT CLEAR)", summary, re.M)
    for task in ("addition", "largest"):
        assert re.search(rf"^\s+{task}\s+\w+ \((higher|lower) is better\)\s+zoo:\w+\s+", summary, re.M), task
    assert "selected for alpha in" in summary
    # Method text and the legend wait for -v.
    text = "\n".join(block)
    assert "Quality intervals:" not in text and "--- Legend" not in text
    # Nothing but pytest's own closing line after the decision: no pytest-benchmark tables of
    # the llm groups, whose figures still reach --benchmark-json.
    after = lines[lines.index(block[-1]) + 1:]
    assert not any(ln.strip() for ln in after[:-1]), after
    assert re.search(r"\d+ passed", after[-1])
    saved = json.loads((pt.path / "bench.json").read_text())
    assert {b["group"] for b in saved["benchmarks"]} >= {"llm: addition", "llm: largest", "llm-load"}


def test_verbose_adds_method_text_legend_and_the_benchmark_tables(suite):
    pt = suite(n_addition=6, n_largest=4)
    result = pt.runpytest_subprocess(TWO, "--llm-alpha=50", "-v")
    result.assert_outcomes(passed=2 * (6 + 4))
    text = result.stdout.str()
    assert "Quality intervals:" in text and "--- Legend" in text and "MDE: minimum detectable effect" in text
    assert "benchmark 'llm: addition'" in text


def test_help_names_every_options_default(pytester):
    result = pytester.runpytest("--help")
    text = result.stdout.str()
    group = text[text.index("pytest-llmselect: evaluate and select language models"):]
    group = group[:group.index("\n\n")]
    entries = re.split(r"\n  (?=--llm-)", group)[1:]
    assert len(entries) >= 30
    for entry in entries:
        assert "default" in entry, entry.split()[0]
    flat = " ".join(group.split())
    assert re.search(r"is worth \(default: 10\)", flat) and "tests (default: 0.95)" in flat


def test_progress_under_xdist_comes_through_the_controller(suite):
    pt = suite(n_addition=6, n_largest=4)
    result = pt.runpytest_subprocess(TWO, "--llm-alpha=50", "-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2 * (6 + 4))
    lines = result.outlines
    # The header once, from the controller, before any worker's line.
    headers = [i for i, ln in enumerate(lines) if ln.startswith("llmselect: 2 candidates (zoo:tiny, zoo:small)")]
    assert len(headers) == 1, lines[:40]
    # Each candidate's load and each of its groups' final lines, relayed with the worker's id.
    for cand in ("zoo:tiny", "zoo:small"):
        assert any(re.fullmatch(rf"\[gw\d\] llmselect: loading {cand}", ln) for ln in lines), cand
        for task in ("addition", "largest"):
            assert any(re.match(rf"\[gw\d\] llmselect: {task} · {cand}: \d+ requests in \d+ batch", ln)
                       for ln in lines), (task, cand)
    assert headers[0] < min(i for i, ln in enumerate(lines) if ln.startswith("[gw"))


def test_load_lines_name_the_model_not_the_configuration(pytester):
    import shutil

    from suitekit import REPO

    shutil.copytree(REPO / "examples" / "fewshot", pytester.path / "fewshot")
    result = pytester.runpytest_subprocess("fewshot", "--llm-candidates=zoo:lookup", "--llm-demos=first:2,random:2",
                                           "-k", "lookup-000 or lookup-001", "-p", "no:cacheprovider")
    assert result.ret == 0, result.stdout.str()[-3000:]
    loads = [ln for ln in result.outlines if ln.startswith("llmselect: loading")]
    assert loads == ["llmselect: loading zoo:lookup"]
