"""Cost uncertainty, cost model, energy, memory method and legend in every report format."""

from __future__ import annotations

import html as _html
import re

import pytest

from pytest_llmselect.energy import detect
from pytest_llmselect.report import render_html, render_markdown, render_terminal
from pytest_llmselect.report.terminal import legend_notes, pval
from tests.report_samples import sample_report


def _with_cost_uncertainty() -> dict:
    report = sample_report(hostile=False)
    task = report["tasks"][0]
    for r in task["results"]:
        r["cost_lo"], r["cost_hi"] = r["cost"] * 0.5, r["cost"] * 1.5
        r["cost_method"] = "t interval over 3 timing rounds"
        r["objective_lo"], r["objective_hi"] = r["objective"] - 1.25, r["objective"] + 1.75
        r["measures"]["memory_method"] = "rss_peak_growth"
        r["measures"]["request_latency_p50"] = 0.00123
        r["measures"]["request_latency_p50_lo"], r["measures"]["request_latency_p50_hi"] = 0.00101, 0.00456
        r["measures"]["request_latency_p95"] = 0.00789
        r["measures"]["request_latency_p95_lo"], r["measures"]["request_latency_p95_hi"] = 0.00321, None
        r["measures"]["round_seconds"] = [1.0, 1.1, 0.9]
    task["selection"]["cost_within_noise"] = ["zoo:tiny"]
    task["alpha_boundaries"] = [
        {"alpha": 0.0164, "below": "zoo:tiny", "above": "zoo:small", "uncertain": True,
         "reason": "cost difference within its interval", "lo": None, "hi": None}]
    report["settings"]["cost_model"] = "time"
    report["energy"] = {"available": False, "devices": {"cpu": {"available": False, "source": None,
                                                                "reason": "no RAPL counter here"}}}
    return report


def test_every_format_shows_cost_interval_noise_boundaries_energy_memory_method_and_legend():
    report = _with_cost_uncertainty()
    small = next(r for r in report["tasks"][0]["results"] if r["candidate"] == "zoo:small")
    # The terminal shows method text and the legend with -v (verbose); the files always.
    texts = {"terminal": render_terminal(report, verbose=True), "md": render_markdown(report),
             "html": render_html(report)}
    for fmt, text in texts.items():
        if fmt != "terminal":  # markup off first, then the entities it escaped
            text = _html.unescape(re.sub(r"<[^>]+>", " ", text).replace("\\", "").replace("**", ""))
        flat = " ".join(text.split())
        # Costs in thousandths of a dollar (m$), the whole column at the decimals its values need.
        assert f"[{small['cost'] * 0.5e3:.2f}, {small['cost'] * 1.5e3:.2f}]" in flat, fmt
        assert "within measurement noise" in flat and "UNCERTAIN: cost difference within its interval" in flat, fmt
        assert "not available on this machine (cpu: no RAPL counter here)" in flat, fmt
        assert "resident-set peak during its work" in flat and "req p50 s" in flat, fmt
        # Latency percentiles with their intervals; an end too few requests bound is a dash.
        assert "0.00123 [0.00101, 0.00456]" in flat and "0.00789 [0.00321, -]" in flat, fmt
        assert "Cost model" in flat and "time: measured model seconds" in flat, fmt
        for note in legend_notes(report):
            assert " ".join(f"{note.label}: {note.text}".split())[:60] in flat, (fmt, note.label)
        for term in ("CI", "MDE", "p adj", "p < 0.0005", "TTFT", "batch p50/p95", "req p50/p95", "alpha boundary"):
            assert term in [n.label for n in legend_notes(report)]


def test_terminal_leaves_method_text_and_legend_to_verbose():
    report = _with_cost_uncertainty()
    short, full = render_terminal(report), render_terminal(report, verbose=True)
    for text in ("Cost model: time", "Quality intervals:", "--- Legend", "MDE: minimum detectable effect"):
        assert text not in short and text in full, text
    assert "pytest -v adds how each figure is made" in short
    # Everything else is the same: the verbose text only adds lines.
    assert set(short.splitlines()) - set(full.splitlines()) <= {
        "(pytest -v adds how each figure is made and a legend; the Markdown and HTML reports always have them)"}
    assert short.rstrip().endswith("Selected overall: zoo:small") and full.rstrip().endswith("Selected overall: zoo:small")


def test_legend_explains_exactly_the_tests_the_report_used():
    report = sample_report(hostile=False)
    cmp = report["tasks"][0]["results"][0]["comparison"]
    cmp.update(method="permutation_mc", p_holm=0.1)
    labels = [n.label for n in legend_notes(report)]
    assert "permutation" in labels and "Holm" in labels
    for task in report["tasks"]:
        for r in task["results"]:
            for key in ("comparison", "quality_comparison"):
                if r.get(key):
                    r[key]["method"] = "paired_t"
                    r[key].pop("p_holm", None)
    labels = [n.label for n in legend_notes(report)]
    assert "paired t" in labels and "permutation" not in labels and "Holm" not in labels
    assert "McNemar" not in labels and len(labels) == len(set(labels))


def test_p_value_at_its_floor_prints_as_below_half_a_thousandth():
    assert pval(1 / 2001) == "< 0.0005" and pval(0.0) == "< 0.0005"
    assert pval(0.0005) == "0.0005" and pval(0.03) == "0.03" and pval(None) == "-"
    report = sample_report(hostile=False)
    report["tasks"][0]["results"][0]["comparison"]["p_adjusted"] = 1 / 2001
    text = render_terminal(report)
    table = text[text.index("Paired comparison"):text.index("Measures (")]
    row = next(ln for ln in table.splitlines() if "zoo:tiny" in ln)
    assert "< 0.0005" in row
    assert "| < 0.0005 |" in _html.unescape(render_markdown(report))


def _rapl(root, uj: int, span: int = 1_000_000) -> None:
    pkg = root / "intel-rapl:0"
    (pkg / "intel-rapl:0:0").mkdir(parents=True, exist_ok=True)  # a sub-domain: must not be added again
    (pkg / "energy_uj").write_text(f"{uj}\n")
    (pkg / "max_energy_range_uj").write_text(f"{span}\n")
    (pkg / "intel-rapl:0:0" / "energy_uj").write_text("5\n")


def test_rapl_counter_reads_joules_across_a_wrap_around(tmp_path):
    _rapl(tmp_path, 900_000)
    counter, why = detect("cpu", powercap=tmp_path)
    assert counter is not None and why == "" and "RAPL" in counter.source
    assert counter.read() == 0.0
    _rapl(tmp_path, 950_000)
    assert abs(counter.read() - 0.05) < 1e-9
    _rapl(tmp_path, 50_000)  # wrapped at 1 J
    assert abs(counter.read() - 0.15) < 1e-9


def test_no_or_unreadable_energy_counter_says_why(tmp_path):
    counter, why = detect("cpu", powercap=tmp_path / "missing")
    assert counter is None and "does not exist" in why
    (tmp_path / "intel-rapl:0").mkdir()
    counter, why = detect("cpu", powercap=tmp_path)
    assert counter is None and "not readable" in why


@pytest.mark.parametrize(("load", "cores", "warned"), [
    (2.0, 2, False),      # exactly as much work as cores: not busy
    (2.01, 2, True),      # just above
    (0.3, 2, False),
    (17.5, 16, True),
    (None, 2, False),     # no load average recorded (older run, or no os.getloadavg)
    ("4", 2, False),      # a hand-edited report: not a number
    (10 ** 400, 2, False),  # too large for a float: no warning rather than a crash
    (4.0, 0, False),
])
def test_busy_machine_warning_at_its_threshold(load, cores, warned):
    from pytest_llmselect.report.sections.header import _busy_machine

    text = _busy_machine({"load_average_1min": load, "cpu_count": cores, "torch_threads": 2}, "time")
    assert (text is not None) == warned
    if warned:
        assert f"on {cores} cores" in text and "--llm-cost-model=flops or tokens is exact" in text
        assert "--llm-cpu-threads=1" in text


def test_busy_machine_warning_reaches_every_format():
    from pytest_llmselect.report import render_html, render_markdown, render_terminal
    from tests.report_samples import sample_report

    report = sample_report()
    report["machine"] = {"load_average_1min": 5.5, "cpu_count": 2, "torch_threads": 1}
    for text in (render_terminal(report), render_markdown(report), render_html(report)):
        assert "1-minute load average 5.5 on 2 cores" in text
        assert "--llm-cpu-threads=1" not in text  # already one thread: no such advice
    report["machine"]["load_average_1min"] = 1.0
    assert "load average" not in render_terminal(report)


def test_groups_timed_again_are_named_with_their_reason_in_their_task_and_listed_with_v():
    report = _with_cost_uncertainty()
    task = report["tasks"][0]
    first, second = task["results"][0], task["results"][1]
    for r in (first, second):
        r["measures"]["timing_rounds_reason"] = f"task {task['name']!r}: cost could make it the pick over X"
    footnote = (f"rounds: one timed pass, more where cost could change the pick: {first['candidate']} "
                f"(task {task['name']!r}: cost could make it the pick over X); {second['candidate']} (")
    terminal, verbose = (" ".join(render_terminal(report, verbose=v).split()) for v in (False, True))
    assert footnote in terminal and "Timing:" not in terminal  # the summary stays short
    listed = f"timed again, 2 in all, where cost could change a pick: {task['name']} \u00b7 {first['candidate']}, "
    assert listed in verbose
    md = " ".join(render_markdown(report).split())
    assert footnote in md and listed in md
    for r in task["results"]:
        r["measures"]["timing_rounds_reason"] = None
    for text in (render_terminal(report, verbose=True), render_markdown(report)):
        assert "Timing:" not in text and "more where cost could" not in text
