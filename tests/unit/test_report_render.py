"""Terminal, Markdown and HTML renderers: content, units, escaping, table shape."""

from __future__ import annotations

import math
import re
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_llmselect.report import render_html, render_markdown, render_terminal
from tests.report_samples import HOSTILE_NAME, HOSTILE_OUTPUT, sample_report

RENDERERS = [render_terminal, render_markdown, render_html]


def _rename(report: dict, old: str, new: str) -> dict:
    """Rename a candidate everywhere (the sample's third candidate is the hostile one)."""
    import json

    text = json.dumps(report, allow_nan=True)
    return json.loads(text.replace(json.dumps(old)[1:-1], json.dumps(new)[1:-1]))


def _minimal_report() -> dict:
    """Every candidate excluded, no measures, no comparisons, no cases, an incomplete run."""
    report = sample_report(hostile=False)
    for task in report["tasks"]:
        for r in task["results"]:
            r["measures"] = {}
            r["comparison"] = None
        task["selection"] = {"selected": None, "objectives": {}, "excluded": {"zoo:tiny": "too slow"},
                             "ties": [], "near_ties": []}
    report["overall"] = {"weights": {}, "results": [], "excluded": {}, "selection": {"selected": None},
                         "pareto": [], "alpha_ranges": {}}
    report["selected"] = None
    report["cases"] = []
    report["complete"] = False
    report["tasks"].append({"name": "empty", "metric": "f1", "higher_is_better": False, "results": [],
                            "selection": {}, "pareto": [], "alpha_ranges": {}})
    return report


# -- terminal ---------------------------------------------------------------------------


def test_terminal_states_selection_units_prices_and_alpha_ranges() -> None:
    text = render_terminal(sample_report())
    assert text.rstrip().splitlines()[-1] == "Selected overall: zoo:small"
    assert "USD per 1,000 cases" in text
    assert "alpha = 50 (USD per 1,000 cases per unit of loss)" in text
    assert "[0, 0.0164]" in text and "[0.0164, \u221e)" in text
    assert f"{HOSTILE_NAME} never" in text
    # The assumed price is named as such, and the numbers it produced carry the mark.
    assert "DEFAULT price ($1/hour), not a quote" in text
    # One notation for the cost column: thousandths of a dollar, said in the header and a footnote.
    assert "cost m$/1k" in text and "m$: thousandths of a US dollar" in text
    assert "4.10*" in text and "12.30*" in text and "51.80*" not in text and "51.80" in text
    assert "Near ties: zoo:tiny" in text
    assert "Excluded: evil|model <b>& (quality 0.167 below min_quality 0.5)" in text


def test_terminal_tables_and_measures() -> None:
    text = render_terminal(sample_report())
    for header in ("candidate", "exact_match [95% CI]", "cost m$/1k", "objective", "min quality", "verdict"):
        assert header in text
    assert "0.500 [0.190, 0.810]" in text
    assert "FAIL" in text and "pass" in text
    # Verdicts are short words; the long reason is a footnote, the exclusion's naming its candidate.
    assert "excluded, worse" in text and "unclear" in text
    assert "worse: significantly worse on the objective" in text
    assert "excluded (evil|model <b>&): quality 0.167 below min_quality 0.5" in text
    # Measures only for the task that has them (addition), with memory in MiB.
    assert text.count("Measures (") == 1
    assert "1152.0" in text and "13.9k" in text


def test_terminal_fits_120_columns() -> None:
    text = render_terminal(sample_report())
    assert max(len(line) for line in text.splitlines()) <= 120


def test_terminal_infinite_alpha_given_as_null_or_inf_reads_the_same() -> None:
    report = sample_report()
    report["tasks"][0]["alpha_ranges"]["zoo:small"] = [0.0164, None]
    assert "zoo:small [0.0164, \u221e)" in render_terminal(report)


def test_terminal_warns_about_incomplete_run_and_no_selection() -> None:
    text = render_terminal(_minimal_report())
    assert "WARNING: PARTIAL RUN" in text
    assert "Selected: none (every candidate was excluded)" in text
    assert text.rstrip().endswith("Selected overall: none (every candidate was excluded)")


# -- markdown -----------------------------------------------------------------------------

_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def _md_tables(text: str) -> list[list[str]]:
    tables: list[list[str]] = []
    current: list[str] = []
    for line in text.split("\n") + [""]:  # GFM ends lines only at \n / \r, unlike splitlines()
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    return tables


def _assert_well_formed(text: str) -> int:
    tables = _md_tables(text)
    for rows in tables:
        pipes = {len(_UNESCAPED_PIPE.findall(row)) for row in rows}
        assert len(pipes) == 1, rows
        assert re.fullmatch(r"\|( :?---:? \|)+", rows[1]), rows[1]
        assert len(rows) >= 3
    return len(tables)


def test_markdown_contains_selection_units_and_alpha_ranges() -> None:
    text = render_markdown(sample_report())
    assert "**Selected overall: zoo:small**" in text
    assert "USD per 1,000 cases per unit of loss" in text
    assert "\\[0.0164, \u221e)" in text and "never" in text
    assert "DEFAULT price (\\$1/hour)" in text


def test_markdown_tables_are_well_formed() -> None:
    # picks; addition: results, comparison, measures; summary: results, comparison; overall
    assert _assert_well_formed(render_markdown(sample_report())) == 7


def test_markdown_escapes_pipes_html_and_newlines_in_names() -> None:
    report = _rename(sample_report(), HOSTILE_NAME, "a|b\nc <img src=x> *x*")
    text = render_markdown(report)
    _assert_well_formed(text)
    # The line break is shown escaped (an inert \x0a), so the row stays one row.
    assert "a\\|b\\\\x0ac &lt;img src=x&gt; \\*x\\*" in text
    assert "<img" not in text
    assert "evil\\|model &lt;b&gt;&amp;" in render_markdown(sample_report())


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=30))
def test_markdown_tables_stay_well_formed_for_any_name(name: str) -> None:
    _assert_well_formed(render_markdown(_rename(sample_report(), HOSTILE_NAME, name)))


def test_markdown_minimal_report() -> None:
    text = render_markdown(_minimal_report())
    _assert_well_formed(text)
    assert "PARTIAL RUN" in text
    assert "none (every candidate was excluded)" in text


# -- html ----------------------------------------------------------------------------------


def test_html_is_self_contained_and_escapes_report_strings() -> None:
    page = render_html(sample_report())
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert HOSTILE_OUTPUT not in page
    assert "evil|model &lt;b&gt;&amp;" in page and "<b>" not in page
    # No reference to anything outside the file: only data: URIs and in-page anchors.
    assert not re.findall(r"""(?:src|href)\s*=\s*["'](?!data:|#)""", page)
    assert not re.findall(r"""(?:src|href)\s*=\s*[^"'\s]""", page)
    # The inline plots' clip paths point inside the page (url(#id)); nothing else may.
    assert not re.findall(r"url\((?!#)", page) and "@import" not in page
    assert "Content-Security-Policy" in page


def test_html_has_one_plot_per_task_and_overall_and_the_tables() -> None:
    page = render_html(sample_report())
    # Plots are inline SVG whose text stays text: searchable, and measurable in a browser.
    assert page.count("<svg") == 3 and "<img" not in page
    assert page.count('-label-0"') == 3
    assert page.count("<table") == 7 + 2  # the Markdown tables plus one per-case table per task
    assert page.count("<details>") == 2
    assert "Selected overall: zoo:small" in page
    assert "[0.0164, \u221e)" in page


@pytest.mark.parametrize("name", ["cost $5 $x^2$ model", "line\nbreak", "x" * 120, "\u6a21\u578b"])
def test_html_plot_survives_awkward_names(name: str) -> None:
    # "$...$" would switch matplotlib to mathtext and fail to parse without parse_math=False.
    page = render_html(_rename(sample_report(), HOSTILE_NAME, name))
    assert page.count("<svg") == 3


def test_html_non_finite_values_are_listed_not_plotted() -> None:
    report = sample_report()
    report["tasks"][1]["results"][0]["quality"] = math.nan
    report["tasks"][1]["results"][1]["cost"] = math.inf
    page = render_html(report)
    assert "Not plotted (no finite cost or quality): zoo:tiny, zoo:small." in page


def test_html_captions_name_the_axes_they_sit_under() -> None:
    # Found by a new-user trial: "Quality against cost" over an axis of weighted loss.
    report = sample_report()
    for r in report["overall"]["results"]:
        r["quality"] = None  # no common quality scale: the overall plot shows the weighted loss
    page = render_html(report)
    assert "Weighted loss (lower is better) against cost (USD per 1,000 cases)" in page
    assert "Exact_match (higher is better) against cost" in page
    assert "Quality against cost" not in page


def test_all_renderers_handle_a_minimal_report() -> None:
    for render in RENDERERS:
        text = render(_minimal_report())
        assert "none (every candidate was excluded)" in text
        assert "none recorded" in text  # the task without results, instead of an empty table


def test_importing_the_report_package_does_not_import_matplotlib_or_pandas() -> None:
    code = ("import sys, pytest_llmselect.report, pytest_llmselect.runs; "
            "print(sorted(m for m in ('matplotlib', 'pandas', 'tabulate') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- confidence in the pick (objective comparison, quality comparison, pick probability) -------


@pytest.mark.parametrize("render", RENDERERS)
def test_every_format_shows_objective_and_quality_comparisons_and_pick_probability(render) -> None:
    import html

    # Read the text as a reader sees it: Markdown and HTML escapes undone.
    # Markup off first (an HTML cell wraps its value and interval in spans), then the escapes.
    text = render(sample_report())
    text = text if render is render_terminal else re.sub(r"<[^>]+>", " ", text)  # its "<1%" is no tag
    flat = " ".join(html.unescape(text.replace("\\", "")).split())
    flat = flat.replace("[ ", "[").replace(" ]", "]")
    # The quality side is named by the task's metric (exact_match, rouge_l), never "quality".
    assert "objective (decides) and exact_match" in flat
    assert "\u0394 objective" in flat and "\u0394 exact_match" in flat
    # The objective interval and the quality interval of the same row, side by side.
    assert "-0.5 [-0.9, 0.1]" in flat or "-0.500 [-0.900, +0.100]" in flat
    assert "25.0 [-5.0, 45.0]" in flat
    # The metric moved down for the excluded model (its row: interval, p adj, then the direction).
    assert "not distinguishable" in flat
    assert re.search(r"-0\.500\]\W+(?:/?\w+\W+)*?0\.06\W+(?:/?\w+\W+)*?lower\b", flat)
    assert "bonferroni x2" in flat
    # Pick probability: a column in the task and overall tables, and a note per block.
    assert "wins" in flat and "62%" in flat and "38%" in flat and "96%" in flat
    assert "NO CLEAR PICK: zoo:small wins in 62%; zoo:tiny wins in 38% of resamples" in flat
    assert "about 31 cases (now 6) would likely settle it" in flat
    # Why it is no clear pick, on the line itself (a new user read "NO CLEAR PICK ... 100%" as a
    # contradiction), and the MDE the legend explains, shown beside the objective comparison.
    assert "not significantly worse on the objective than zoo:small: " in flat
    assert re.search(r"p adj\W+(?:/?\w+\W+)*?MDE\W+(?:/?\w+\W+)*?\u0394 exact_match", flat)
    # 0.9995 must not read as certain, 0.0005 not as never.
    assert ">99%" in flat and "<1%" in flat
    assert "clear pick (zoo:small)" in flat
    # Method text: always in the files, in the terminal with -v.
    if render is render_terminal:
        flat = " ".join(render_terminal(sample_report(), verbose=True).split())
    assert "Pick probability" in flat and "Comparisons" in flat


@pytest.mark.parametrize("render", RENDERERS)
def test_old_reports_without_the_new_fields_still_render(render) -> None:
    report = sample_report(hostile=False)
    for block in [*report["tasks"], report["overall"]]:
        for key in ("pick_probability", "clear_pick", "runner_up", "cases_needed"):
            block.pop(key, None)
        for r in block["results"]:
            r.pop("quality_comparison", None)
    report.pop("methods")
    text = render(report)
    assert "clear pick" not in text.lower()
    assert "Selected overall: zoo:small" in text


@pytest.mark.parametrize("render", RENDERERS)
def test_the_overall_table_lists_the_selected_first_then_by_objective(render) -> None:
    """Found by a new-user trial: the overall table was in quality order, so after re-selection
    at another alpha the selected row could be third."""
    from pytest_llmselect.report.terminal import overall_table

    report = sample_report(hostile=False)
    rows = report["overall"]["results"]
    for r, objective in zip(rows, (5.0, 1.0, 3.0)[:len(rows)]):
        r["objective"] = objective
    report["overall"]["selection"]["selected"] = rows[-1]["candidate"]
    listed = [row[0] for row in overall_table(report).rows]
    rest = sorted((r for r in rows[:-1]), key=lambda r: r["objective"])
    assert listed == [rows[-1]["candidate"], *(r["candidate"] for r in rest)]
    text = render(report)
    positions = [text.find(name) for name in listed]
    assert all(p >= 0 for p in positions)


def test_a_comparison_without_a_verdict_renders():
    """The schema fuzz test found it: a stored comparison whose verdict is null crashed the
    'not significantly worse' part of the pick note."""
    report = sample_report(hostile=False)
    for task in report["tasks"]:
        for r in task["results"]:
            if r.get("comparison"):
                r["comparison"]["verdict"] = None
    for render in RENDERERS:
        assert "NO CLEAR PICK" in render(report)


def test_html_log_cost_axis_labels_are_plain_text_not_mathtext(monkeypatch: pytest.MonkeyPatch) -> None:
    # Found by benchmarks/bench_main_job.py: matplotlib's log-axis labels are mathtext
    # ("$\mathdefault{10^{-3}}$"), parsed again by a new parser in each of a plot's three
    # drawings: about 0.6 CPU s of the main job's HTML report. Plain "10⁻³" reads the same and stays searchable.
    from matplotlib.mathtext import MathTextParser

    parsed: list[str] = []
    real = MathTextParser.parse
    monkeypatch.setattr(MathTextParser, "parse", lambda self, s, *a, **k: parsed.append(s) or real(self, s, *a, **k))
    report = sample_report()
    report["tasks"][0]["results"][-1]["cost"] = 51.8  # costs spanning over 50x: a log axis
    page = render_html(report)
    assert parsed == []
    assert re.search(r"10\u207b\u00b9|10\u2070|10\u00b9|10\u00b2|10\u207b[\u00b2\u00b3\u2074]", page)
    assert "mathdefault" not in page
