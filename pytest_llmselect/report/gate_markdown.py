"""The CI gate's Markdown summary (for ``$GITHUB_STEP_SUMMARY`` or ``--llm-summary``).

Renders a ``gate.GateResult``; computes nothing. Names, case ids and reasons come from users
and models, so every one is escaped (``md_escape``: a ``|`` would split a table cell and
``<`` could inject markup into the job summary page).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .markdown import md_escape

if TYPE_CHECKING:
    from pytest_llmselect.gate import GateResult, GateVerdict

_ICON = {"PASS": "\u2705", "FAIL": "\u274c", "INCONCLUSIVE": "\u26a0\ufe0f", "ERROR": "\u274c"}


def _num(x: float | None, fmt: str = "+.3f") -> str:
    return "n/a" if x is None else format(x, fmt)


def _interval(v: GateVerdict) -> str:
    if v.diff is None:
        return "n/a"
    return f"{_num(v.diff)} [{_num(v.lo)}, {_num(v.hi)}]"


def _quality(v: GateVerdict) -> str:
    if v.quality is None or v.incumbent_quality is None:
        return "n/a"
    return f"{v.quality:.3f} vs {v.incumbent_quality:.3f}"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _overall_line(result: GateResult) -> str:
    verdict = result.verdict
    outcome = "the job fails" if result.failed else "the job passes"
    if verdict == "INCONCLUSIVE" and not result.failed:
        outcome += " (pass --llm-strict to fail on INCONCLUSIVE)"
    return f"## {_ICON[verdict]} LLM gate: {verdict} ({outcome})"


def render_gate_markdown(result: GateResult) -> str:
    s = result.settings
    budget = f"{s.max_cost_ratio:g}x the incumbent's cost" if s.max_cost_ratio is not None else "none"
    lines = [
        _overall_line(result), "",
        f"Baseline: {md_escape(result.baseline)}, incumbent **{md_escape(result.incumbent)}**. "
        f"Margin {s.margin:g} (quality units); each verdict at {s.level:.0%} one-sided confidence, "
        f"paired by task and case id; cost budget: {budget}; strict: {'yes' if s.strict else 'no'}.",
        "",
        _row(["task", "candidate", "verdict", "quality (cand. vs inc.)", "diff [lo, hi]",
              "p (no difference)", "shared", "unmatched (baseline / this run)", "cost ratio", "cases needed"]),
        _row([":---", ":---", ":---", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]),
    ]
    for v in result.verdicts:
        lines.append(_row([
            md_escape(v.task), md_escape(v.candidate), f"{_ICON[v.verdict]} {v.verdict}", _quality(v),
            _interval(v), _num(v.p_value, ".3g"), str(v.n_shared),
            f"{v.n_unmatched_baseline} / {v.n_unmatched_current}", _num(v.cost_ratio, ".3g"),
            str(v.cases_needed) if v.cases_needed is not None else "",
        ]))
    lines += ["", "**Why**", ""]
    lines += [f"- {md_escape(v.task)} / {md_escape(v.candidate)}: {md_escape(v.reason)}" for v in result.verdicts]
    unmatched = [(v, r) for v in result.verdicts for r in v.unmatched_reasons if r != v.reason]
    if unmatched:
        lines += ["", "**Unmatched cases** (left out of the comparison)", ""]
        lines += [f"- {md_escape(v.task)} / {md_escape(v.candidate)}: {md_escape(r)}" for v, r in unmatched]
    if result.notes:
        lines += ["", "**Notes**", ""]
        lines += [f"- {md_escape(n)}" for n in result.notes]
    lines += ["", "<sub>diff = quality(candidate) - quality(incumbent) on the shared cases; its interval is "
              f"two-sided {2 * s.level - 1:.0%}, so each end is a {s.level:.0%} one-sided bound. PASS: not worse "
              "by more than the margin; FAIL: worse by more than the margin, or over the cost budget. The p-value "
              "tests no difference at all. Cases needed: shared cases in total to settle the verdict at 80% "
              "power if the observed difference holds.</sub>"]
    return "\n".join(lines) + "\n"


def render_gate_error(message: str, baseline: str | None = None) -> str:
    """The summary when the gate could not compare at all (bad baseline, unknown incumbent)."""
    # Escaped text, not a code span: backslash escapes do not work inside backticks.
    where = f" (baseline {md_escape(baseline)})" if baseline else ""
    return (f"## {_ICON['ERROR']} LLM gate: ERROR{where}\n\n"
            f"The gate could not compare this run with its baseline:\n\n> {md_escape(message)}\n\n"
            "This run's own results were still evaluated and written.\n")
