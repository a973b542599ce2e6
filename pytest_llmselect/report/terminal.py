"""Plain-text report for the terminal, and the table model the other renderers share.

Markdown and HTML build their tables from ``task_tables`` / ``overall_table`` and their prose
from the ``*_notes`` functions, so the three formats always show the same columns and the
same numbers; each renderer only adds its own escaping and markup. Everything here formats
what the report dict holds (docs/report-schema.md) and computes nothing.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

Report = Mapping[str, Any]

WIDTH = 120
DASH = "-"
INF = "\u221e"
DEFAULT_PRICE_MARK = "*"
SELECTED_MARK = "\u2192"  # arrow in a leading column of the terminal tables
DEFAULT_UNITS = {"cost": "USD per 1,000 cases", "alpha": "USD per 1,000 cases per unit of loss"}


@dataclass(frozen=True)
class Table:
    """Cells are already formatted plain text; renderers escape them for their markup."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...]  # right-aligned columns
    highlight: tuple[bool, ...] = ()  # per row: the selected candidate
    footnotes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Note:
    label: str
    text: str
    warning: bool = False


# -- inert text ----------------------------------------------------------------------------

# Bidi embeddings/overrides/isolates and marks: they reorder what a reader sees (Trojan Source).
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_OUTPUT_KEYS = frozenset({"output"})  # model outputs keep their line breaks and tabs


def inert(text: str, keep_lines: bool = False) -> str:
    """``text`` with every character that could act on a terminal or reorder what a reader
    sees written as a visible escape: C0/C1 controls (ESC, NUL, DEL ...), bidi controls,
    line/paragraph separators and lone surrogates (``\\x1b``, ``\\u202e``, ``\\udc80``).
    ``keep_lines`` keeps newlines and tabs (for multi-line model outputs)."""
    if text.isprintable():  # no Cc, Cs, Zl, Zp nor Cf (every bidi control is Cf): nothing to escape
        return text
    import unicodedata

    out = []
    for ch in text:
        code = ord(ch)
        if keep_lines and ch in "\n\t":
            out.append(ch)
        elif ch in _BIDI or unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp"):
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def inert_report(obj: Any, key: str = "") -> Any:
    """A copy of a report with ``inert`` applied to every string, keys included; every
    renderer starts from it, so no field can reach a terminal or page raw."""
    if isinstance(obj, str):
        return inert(obj, keep_lines=key in _OUTPUT_KEYS)
    if isinstance(obj, Mapping):
        return {inert(k) if isinstance(k, str) else k: inert_report(v, str(k)) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [inert_report(v, key) for v in obj]
    return obj


# -- number formatting -------------------------------------------------------------------


def num(x: Any, digits: int = 4) -> str:
    if x is None:
        return DASH
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return str(x)
    try:
        f = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(f):
        return "nan"
    if math.isinf(f):
        return INF if f > 0 else "-" + INF
    return f"{f:.{digits}g}"


def qual(x: Any, signed: bool = False) -> str:
    """Quality-like values: fixed 3 decimals keep a column of accuracies aligned."""
    if not isinstance(x, (int, float)) or isinstance(x, bool) or not math.isfinite(x) or abs(x) >= 10:
        return num(x)
    return f"{x:+.3f}" if signed else f"{x:.3f}"


def interval(value: Any, lo: Any, hi: Any, signed: bool = False) -> str:
    if lo is None and hi is None:
        return qual(value, signed)
    return f"{qual(value, signed)} [{qual(lo, signed)}, {qual(hi, signed)}]"


def alpha_range(r: Any) -> str:
    """``None`` means the candidate wins for no alpha; an upper end of ``None``/inf is unbounded."""
    if r is None:
        return "never"
    if not isinstance(r, (list, tuple)) or len(r) != 2:
        return str(r)
    lo, hi = r
    if hi is None or (isinstance(hi, (int, float)) and math.isinf(hi)):
        return f"[{num(lo)}, {INF})"
    return f"[{num(lo)}, {num(hi)}]"


def pval(p: Any, digits: int = 2) -> str:
    """A p-value; one below 0.0005 (the floor of 2,000 resamples is 1/2001) prints as ``< 0.0005``."""
    if isinstance(p, (int, float)) and not isinstance(p, bool) and 0 <= p < 0.0005:
        return "< 0.0005"
    return num(p, digits)


def spread(value: Any, lo: Any, hi: Any, digits: int = 4) -> str:
    """A cost-like value with its interval; an exact one (lo == hi == value) prints alone."""
    if lo is None or hi is None or (lo == hi == value):
        return num(value, digits)
    return f"{num(value, digits)} [{num(lo, 3)}, {num(hi, 3)}]"


def quantile_cell(m: Mapping[str, Any], key: str) -> str | None:
    """A latency percentile with its interval, ``0.0047 [0.0041, 0.0062]``; an end too few
    requests bound prints as a dash; a percentile without interval fields prints alone."""
    value = m.get(key)
    if value is None:
        return None
    lo, hi = m.get(f"{key}_lo"), m.get(f"{key}_hi")
    if f"{key}_lo" not in m and f"{key}_hi" not in m:
        return num(value, 3)
    return f"{num(value, 3)} [{num(lo, 3)}, {num(hi, 3)}]"


def mib(nbytes: Any) -> str:
    return DASH if not isinstance(nbytes, (int, float)) else f"{nbytes / 2**20:.1f}"


def count(n: Any) -> str:
    """Parameter counts as 13.9k / 494M / 1.5B: the digits beyond three say nothing here."""
    if not isinstance(n, (int, float)) or isinstance(n, bool):
        return DASH
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.3g}{suffix}"
    return str(int(n))


def names(items: Sequence[Any]) -> str:
    return ", ".join(str(i) for i in items) if items else DASH


# -- report accessors --------------------------------------------------------------------


def candidates_by_name(report: Report) -> dict[str, Mapping[str, Any]]:
    return {str(c.get("name")): c for c in report.get("candidates") or []}


def is_default_price(candidate: Mapping[str, Any] | None) -> bool:
    return bool(candidate) and (candidate.get("price") or {}).get("source") == "default"


def price_text(price: Mapping[str, Any] | None) -> str:
    price = price or {}
    parts = []
    if price.get("usd_per_hour") is not None:
        parts.append(f"${num(price['usd_per_hour'])}/hour")
    if price.get("usd_per_million_input_tokens") is not None:
        parts.append(f"${num(price['usd_per_million_input_tokens'])}/M input tokens")
    if price.get("usd_per_million_output_tokens") is not None:
        parts.append(f"${num(price['usd_per_million_output_tokens'])}/M output tokens")
    return ", ".join(parts) or "no price"


def _cost_cell(cost: Any, candidate: Mapping[str, Any] | None, lo: Any = None, hi: Any = None) -> str:
    # The mark travels with the number so a default price cannot pass for a quoted one.
    mark = DEFAULT_PRICE_MARK if is_default_price(candidate) else ""
    text = spread(cost, lo, hi)
    return text.replace(" [", mark + " [", 1) if " [" in text else text + mark


def _default_footnote(names_: Sequence[str], report: Report) -> tuple[str, ...]:
    cands = candidates_by_name(report)
    if any(is_default_price(cands.get(n)) for n in names_):
        return (f"{DEFAULT_PRICE_MARK} cost from an ASSUMED default price, not a quoted one",)
    return ()


# -- shared notes and tables ---------------------------------------------------------------


def _busy_machine(machine: object, cost_model: str) -> str | None:
    """A warning when the run's machine had more runnable work than cores (1-minute load
    average above the CPU count at the end of the run), else None: measured times then vary
    from run to run by more than the rounds of one run show."""
    if not isinstance(machine, Mapping):
        return None
    load, cores = machine.get("load_average_1min"), machine.get("cpu_count")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (load, cores)):
        return None
    try:
        busy = math.isfinite(float(load)) and float(cores) > 0 and float(load) > float(cores)  # type: ignore[arg-type]
    except OverflowError:  # an edited report's integer too large for a float
        return None
    if not busy:
        return None
    advice = ("measured times (batch latency, throughput) vary between runs by more than their "
              "intervals show" if cost_model != "time" else
              "measured times and the time-based cost vary between runs by more than their intervals "
              "show; --llm-cost-model=flops or tokens is exact")
    threads = machine.get("torch_threads")
    if isinstance(threads, int) and not isinstance(threads, bool) and threads > 1:
        advice += f"; torch used {threads} threads: --llm-cpu-threads=1 steadies CPU timings on a shared machine"
    return f"1-minute load average {num(load)} on {num(cores)} cores at the end of the run: {advice}"


def header_notes(report: Report) -> list[Note]:
    tool = report.get("tool") or {}
    settings = report.get("settings") or {}
    units = {**DEFAULT_UNITS, **(report.get("units") or {})}
    level = settings.get("level")
    level_text = f"; intervals at {num(level * 100, 3)}%" if isinstance(level, (int, float)) else ""
    notes = [
        Note("Run", f"{tool.get('name', 'pytest-llmselect')} {tool.get('version', '?')}, created "
             f"{report.get('created', '?')}, {len(report.get('tasks') or [])} task(s), "
             f"{len(report.get('candidates') or [])} candidate(s)"),
        Note("Objective", f"cost + alpha \u00d7 loss, lowest wins; alpha = {num(settings.get('alpha'))} "
             f"({units['alpha']}); cost in {units['cost']}{level_text}"),
    ]
    notes.extend(accounting_notes(report))
    crashed = report.get("crashed") or []
    if crashed:
        notes.append(Note("Lost to crashes", f"{len(crashed)} case(s) killed their pytest-xdist worker and have "
                          "no score: " + "; ".join(f"{c.get('task')}/{c.get('case_id')} on {c.get('candidate')}"
                                                    for c in crashed), warning=True))
    cands = report.get("candidates") or []
    default = [c for c in cands if is_default_price(c)]
    quoted = [c for c in cands if not is_default_price(c)]
    if default:
        prices = sorted({price_text(c.get("price")) for c in default})
        notes.append(Note("Assumed prices", f"{names([c.get('name') for c in default])} use the DEFAULT "
                          f"price ({'; '.join(prices)}), not a quote: their costs are marked "
                          f"{DEFAULT_PRICE_MARK}", warning=True))
    if quoted:
        notes.append(Note("Quoted prices", "; ".join(
            f"{c.get('name')}: {price_text(c.get('price'))} (from {(c.get('price') or {}).get('source', '?')})"
            for c in quoted)))
    methods = report.get("methods") or {}
    labels = (("quality_interval", "Quality intervals"), ("comparison", "Comparisons"),
              ("cost_interval", "Cost intervals"), ("pick_probability", "Pick probability"))
    notes += [Note(label, str(methods[key])) for key, label in labels if methods.get(key)]
    notes.append(Note("Cost model", COST_MODEL_TEXT.get(str(settings.get("cost_model") or "time"),
                                                    str(settings.get("cost_model")))))
    energy = report.get("energy")
    if isinstance(energy, Mapping):
        devices = energy.get("devices") or {}
        if energy.get("available"):
            notes.append(Note("Energy", "; ".join(f"{d}: {v.get('source')}" for d, v in devices.items()
                                                  if v.get("available")) + " (J per 1,000 cases in the measures)"))
        else:
            why = "; ".join(f"{d}: {v.get('reason')}" for d, v in devices.items()) or "no model work was measured"
            notes.append(Note("Energy", f"not available on this machine ({why}), so no energy figures"))
    busy = _busy_machine(report.get("machine"), str(settings.get("cost_model") or "time"))
    if busy:
        notes.append(Note("Busy machine", busy, warning=True))
    constraints = {k: v for k, v in (settings.get("constraints") or {}).items() if v is not None}
    if constraints:
        notes.append(Note("Constraints", ", ".join(f"{k} = {num(v)}" for k, v in constraints.items())))
    return notes


def accounting_notes(report: Report) -> list[Note]:
    """Partial runs, the cases not run (by task and candidate), subsets, load failures, errors."""
    notes = []
    missing = [m for m in report.get("missing") or [] if isinstance(m, Mapping)]
    if report.get("complete") is False or missing:
        total = sum(m.get("count") or 0 for m in missing if isinstance(m.get("count"), int))
        listed = "; ".join(f"{m.get('task')} \u00d7 {m.get('candidate')}: {num(m.get('count'))} "
                           f"({m.get('reason')})" for m in missing)
        notes.append(Note("PARTIAL RUN", f"{total} planned case(s) not run: {listed}" if missing else
                          "interrupted or still running: results cover only the cases recorded so far",
                          warning=True))
    subset = report.get("subset")
    if isinstance(subset, Mapping):
        filters = subset.get("filters") or {}
        how = ", ".join(f"{k} {v!r}" if not isinstance(v, bool) else str(k) for k, v in filters.items()) \
            if isinstance(filters, Mapping) else ""
        notes.append(Note("Subset", f"a subset of the suite's cases was chosen{(' with ' + how) if how else ''}"
                          f" ({num(subset.get('deselected'))} case item(s) deselected); figures cover "
                          "the chosen cases only", warning=True))
    failed = [c for c in report.get("candidates") or [] if isinstance(c, Mapping) and c.get("load_error")]
    for c in failed:
        notes.append(Note("Not evaluated", f"{c.get('name')} failed to load: {c.get('load_error')}",
                          warning=True))
    cut = [(t.get("name"), r.get("candidate"), r.get("n_truncated"), r.get("truncated_tokens"))
           for t in report.get("tasks") or [] if isinstance(t, Mapping)
           for r in t.get("results") or [] if isinstance(r, Mapping) and r.get("n_truncated")]
    if cut:
        notes.append(Note("Truncated prompts", "; ".join(
            f"{t} \u00d7 {c}: {num(n)} case(s), {num(k)} token(s) dropped from the left to fit the context window"
            for t, c, n, k in cut), warning=True))
    errors = sum(r.get("n_errors") or 0 for t in report.get("tasks") or [] if isinstance(t, Mapping)
                 for r in t.get("results") or [] if isinstance(r, Mapping) and isinstance(r.get("n_errors"), int))
    if errors:
        policy = (report.get("settings") or {}).get("errors", "worst")
        how = ("left out of the estimates (--llm-errors=exclude)" if policy == "exclude"
               else "counted at the metric's worst value")
        notes.append(Note("Errored cases", f"{errors} case(s) raised or finished without recording a score: {how}",
                          warning=True))
    return notes
COST_MODEL_TEXT = {
    "time": "time: measured model seconds x USD per hour (plus token prices where set), the mean of the "
            "timed rounds after an untimed warm-up; its interval comes from the rounds' spread",
    "tokens": "tokens: input and output tokens x USD per million tokens; exactly reproducible (no interval)",
    "flops": "flops: 2 x parameters x tokens FLOPs x USD per PFLOP; hardware-independent and exactly "
             "reproducible (no interval)",
}

# (term, explanation, shown when): "always", or the comparison method names / report keys it explains.
LEGEND: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("CI", "confidence interval at the report's level (quality: see Quality intervals; cost: Student t over the "
           "timed rounds; objective: the two combined in quadrature)", ("always",)),
    ("MDE", "minimum detectable effect: the smallest difference the comparison would detect with 80% power "
            "at its (adjusted) level", ("always",)),
    ("p adj", "p-value adjusted for comparing several candidates with the selected (Bonferroni: p x m)",
     ("always",)),
    ("Holm", "p-values adjusted by Holm's step-down method over the comparisons with the selected", ("p_holm",)),
    ("McNemar", "paired test on the cases where exactly one of two candidates is right (0/1 scores); Tango's "
                "score test is McNemar's at a difference of 0", ("tango_score", "mcnemar_exact", "mcnemar-exact")),
    ("Tango", "Tango's score test and interval for a paired difference of 0/1 outcomes", ("tango_score",)),
    ("paired t", "Student t test on per-case differences (with the cost's variance added: Welch-Satterthwaite)",
     ("paired_t", "paired_t_welch")),
    ("permutation", "paired sign-flip permutation test on per-case differences (exact, or 2,000 resamples "
                    "whose floor is p = 1/2001)", ("permutation_exact", "permutation_mc")),
    ("p < 0.0005", "a p-value below 0.0005 (e.g. at a resampling test's floor), printed so rather than as a "
                   "rounded 0", ("always",)),
    ("wins", "share of bootstrap resamples in which the candidate has the lowest objective", ("always",)),
    ("TTFT", "time to first token: from the start of a batch's generation (a served model: of the request) to "
             "its first new token; with [lo, hi] where each request's is its own, as for req p50", ("always",)),
    ("batch p50/p95", "batch latency: the wall time of the batch that served a case", ("always",)),
    ("req p50/p95", "per-request latency: a sample of requests run alone at batch size 1 (a served model: "
                    "every request), what one caller waits; [lo, hi]: distribution-free interval of the "
                    "percentile from order statistics (Conover), a dash where too few requests bound that end",
     ("always",)),
    ("weights / peak MiB", "the candidate's parameter and buffer bytes / its own peak memory, measured as the "
                           "footnote of the measures table says", ("always",)),
    ("alpha boundary", "alpha where the selection changes hands; UNCERTAIN when the two candidates' cost or "
                       "loss difference is within its interval", ("always",)),
)


def _report_markers(report: Report) -> set[str]:
    found: set[str] = set()
    for task in report.get("tasks") or []:
        for r in task.get("results") or []:
            for key in ("comparison", "quality_comparison"):
                cmp = r.get(key) or {}
                if cmp.get("method"):
                    found.add(str(cmp["method"]))
                if cmp.get("p_holm") is not None:
                    found.add("p_holm")
    return found


def legend_notes(report: Report) -> list[Note]:
    """One line per abbreviation and test the report uses, the same in every format."""
    markers = _report_markers(report) | {"always"}
    return [Note(term, text) for term, text, when in LEGEND if markers & set(when)]


def task_heading(task: Mapping[str, Any]) -> str:
    direction = "higher" if task.get("higher_is_better", True) else "lower"
    parts = [f"metric {task.get('metric', '?')} ({direction} is better)", f"{num(task.get('n_cases'))} cases",
             f"weight {num(task.get('weight'))}"]
    if task.get("min_quality") is not None:
        parts.append(f"min_quality {num(task['min_quality'])}")
    return f"Task {task.get('name', '?')}: " + ", ".join(parts)


def selection_notes(block: Mapping[str, Any], extra_excluded: Mapping[str, Any] | None = None,
                    show_selected: bool = True) -> list[Note]:
    """Ties, exclusions, Pareto front and alpha ranges of a task or of ``overall``."""
    sel = block.get("selection") or {}
    selected = sel.get("selected")
    notes = []
    if "results" in block and not block["results"]:
        notes.append(Note("Results", "none recorded", warning=True))
    if show_selected:
        notes.append(Note("Selected", str(selected) if selected is not None
                          else "none (every candidate was excluded)", warning=selected is None))
    pick = pick_note(block)
    if pick is not None:
        notes.append(pick)
    ties = [t for t in sel.get("ties") or [] if t != selected]
    if ties:
        notes.append(Note("Ties", f"{names(ties)} have the same objective as {selected}", warning=True))
    near = [t for t in sel.get("near_ties") or [] if t != selected and t not in ties]
    if near:
        notes.append(Note("Near ties", f"{names(near)} (objective within 1% of the selected one)"))
    excluded = {**(extra_excluded or {}), **(sel.get("excluded") or {})}
    if excluded:
        notes.append(Note("Excluded", "; ".join(f"{k} ({v})" for k, v in excluded.items())))
    notes.append(Note("Pareto front", names(block.get("pareto") or [])))
    noisy = [n for n in sel.get("cost_within_noise") or [] if n != selected]
    if noisy:
        notes.append(Note("Cost within noise", f"the cost difference between {names(noisy)} and {selected} is "
                          "within measurement noise (its interval holds 0): on cost alone they cannot be told "
                          "apart; a deterministic --llm-cost-model (tokens, flops) can"))
    ranges = block.get("alpha_ranges") or {}
    if ranges:
        notes.append(Note("Selected for alpha in", "; ".join(f"{k} {alpha_range(v)}" for k, v in ranges.items())))
    bounds = block.get("alpha_boundaries") or []
    if bounds:
        notes.append(Note("Alpha boundaries", "; ".join(_boundary(b) for b in bounds),
                          warning=any(b.get("uncertain") for b in bounds)))
    return notes


def _boundary(b: Mapping[str, Any]) -> str:
    where = f"{num(b.get('alpha'))} ({b.get('below')} | {b.get('above')})"
    if b.get("uncertain"):
        return f"{where} UNCERTAIN: {b.get('reason')}"
    return f"{where} between {num(b.get('lo'), 3)} and {num(b.get('hi'), 3)}"




def percent(share: Any) -> str:
    if not isinstance(share, (int, float)) or isinstance(share, bool):
        return DASH
    text = f"{100 * share:.0f}%"
    # A share that rounds to 0% or 100% but is not exactly that must not read as certain.
    if text == "0%" and share > 0:
        return "<1%"
    if text == "100%" and share < 1:
        return ">99%"
    return text


def pick_note(block: Mapping[str, Any]) -> Note | None:
    """How often each candidate wins the argmin over resamples, and whether the pick is clear."""
    shares = block.get("pick_probability")
    if not isinstance(shares, Mapping) or not shares:
        return None
    selected = (block.get("selection") or {}).get("selected")
    ranked = sorted(shares.items(), key=lambda kv: (-float(kv[1] or 0), str(kv[0])))
    shown = [(c, v) for c, v in ranked if v] or ranked[:1]
    text = "; ".join(f"{c} wins in {percent(v)}" for c, v in shown) + " of resamples"
    if block.get("clear_pick"):
        return Note("Pick probability", f"clear pick ({selected}): {text}")
    needed = block.get("cases_needed")
    if "cases_needed" not in block:
        settle = ""
    elif needed is None:
        settle = "; practically a tie: more than ten million cases would be needed to settle it"
    else:
        settle = f"; about {needed} cases (now {num(block.get('n_cases'))}) would likely settle it"
    # Why not clear, on the line itself: a 100% share and "no clear pick" read as a contradiction.
    close = [str(r.get("candidate")) for r in block.get("results") or [] if isinstance(r, Mapping)
             and str((r.get("comparison") or {}).get("verdict") or "").startswith("not distinguishable")]
    why = f"; not significantly worse on the objective than {selected}: {', '.join(close)}" if close else ""
    return Note("Pick probability", f"NO CLEAR PICK: {text}{why}{settle}", warning=True)


def _verdict(result: Mapping[str, Any], selected: Any, excluded: Mapping[str, Any]) -> str:
    name = result.get("candidate")
    comparison = result.get("comparison") or {}
    verdict = "selected" if name == selected else str(comparison.get("verdict") or DASH)
    return f"EXCLUDED; {verdict}" if name in excluded else verdict


def task_tables(task: Mapping[str, Any], report: Report) -> list[Table]:
    """Results, comparisons with the selected, measures (the last two only when present)."""
    cands = candidates_by_name(report)
    sel = task.get("selection") or {}
    selected = sel.get("selected")
    excluded = sel.get("excluded") or {}
    level = (report.get("settings") or {}).get("level")
    ci = f"{num(level * 100, 3)}% CI" if isinstance(level, (int, float)) else "CI"
    results = list(task.get("results") or [])
    if not results:
        return []  # selection_notes says so; an empty table would only add noise
    pass_text = {True: "pass", False: "FAIL", None: DASH}
    shares = task.get("pick_probability") or {}
    # Errors and cases not run get their columns when a row has some (the header notes count
    # them for the whole run); a clean run keeps the table within 120 columns.
    show_errors = any(r.get("n_errors") for r in results)
    show_missing = any(r.get("n_missing") for r in results)
    rows = tuple(
        (str(r.get("candidate")), num(r.get("n")), *((num(r.get("n_errors", 0)),) if show_errors else ()),
         *((num(r.get("n_missing")),) if show_missing else ()),
         interval(r.get("quality"), r.get("lo"), r.get("hi")),
         _cost_cell(r.get("cost"), cands.get(str(r.get("candidate"))), r.get("cost_lo"), r.get("cost_hi")),
         spread(r.get("objective"), r.get("objective_lo"), r.get("objective_hi")),
         percent(shares.get(r.get("candidate"))),
         pass_text.get(r.get("min_quality_passed"), str(r.get("min_quality_passed"))),
         _verdict(r, selected, excluded))
        for r in results)
    missing_col: tuple[str, ...] = ("not run",) if show_missing else ()
    tables = [Table(
        title=f"Results (cost and objective with their {ci} where they vary)",
        headers=("candidate", "n", *(("errors",) if show_errors else ()), *missing_col, f"quality [{ci}]",
                 "cost $/1k", "objective", "wins", "min quality", "verdict"),
        rows=rows, numeric=(False, True, *((True,) if show_errors else ()), *((True,) if show_missing else ()),
                            True, True, True, True, False, False),
        highlight=tuple(r.get("candidate") == selected for r in results),
        footnotes=_default_footnote([row[0] for row in rows], report))]

    joint = _demos_table(results, cands, selected, ci)
    if joint is not None:
        tables.append(joint)

    compared = [r for r in results if r.get("comparison") or r.get("quality_comparison")]
    if compared:
        tables.append(Table(
            title=f"Paired comparison with the selected ({selected}): objective (decides) and quality",
            headers=("candidate", f"\u0394 objective [{ci}]", "p adj", "MDE", f"\u0394 quality [{ci}]", "p adj",
                     "quality"),
            rows=tuple((str(r["candidate"]), *_comparison_cells(r.get("comparison") or {}, False),
                        *_comparison_cells(r.get("quality_comparison") or {}, True)) for r in compared),
            numeric=(False, True, True, True, True, True, False),
            footnotes=_comparison_footnotes(compared)))

    measures_table = _measures_table(results, cands)
    if measures_table is not None:
        tables.append(measures_table)
    return tables


def _comparison_cells(cmp: Mapping[str, Any], quality: bool) -> tuple[str, ...]:
    if not cmp:
        return (DASH, DASH, DASH)
    p = pval(cmp.get("p_adjusted", cmp.get("p_holm")))
    if quality:
        return (interval(cmp.get("diff"), cmp.get("lo"), cmp.get("hi"), signed=True), p,
                str(cmp.get("verdict") or DASH))
    return (f"{num(cmp.get('diff'), 3)} [{num(cmp.get('lo'), 3)}, {num(cmp.get('hi'), 3)}]", p, num(cmp.get("mde"), 3))


def _comparison_footnotes(compared: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    adjustments = sorted({str(c.get("adjustment")) for r in compared
                          for c in (r.get("comparison") or {}, r.get("quality_comparison") or {}) if c.get("adjustment")})
    notes = ["\u0394 objective > 0: the candidate costs more per 1,000 cases, quality included; "
             "each interval is the one its test implies"]
    tests = {kind: sorted({str((r.get(key) or {}).get("method")) for r in compared if r.get(key)})
             for kind, key in (("objective", "comparison"), ("quality", "quality_comparison"))}
    notes.append("tests: " + "; ".join(f"{kind} {', '.join(ms)}" for kind, ms in tests.items() if ms))
    if adjustments:
        notes.append(f"p adjusted and intervals simultaneous over the comparisons ({', '.join(adjustments)})")
    return tuple(notes)


def _demos_table(results: Sequence[Mapping[str, Any]], cands: Mapping[str, Mapping[str, Any]],
                 selected: Any, ci: str) -> Table | None:
    """(model, demonstration configuration) candidates pivoted: one row per configuration,
    one column per model, each cell the quality with its interval; the selected is marked."""
    cells: dict[tuple[str, str], Mapping[str, Any]] = {}
    models: list[str] = []
    configs: list[str] = []
    for r in results:
        cand = cands.get(str(r.get("candidate"))) or {}
        if not cand.get("demos"):
            continue
        model, config = str(cand.get("model") or r.get("candidate")), str(cand["demos"])
        models += [model] if model not in models else []
        configs += [config] if config not in configs else []
        cells[(model, config)] = r
    if not cells:
        return None

    def cell(model: str, config: str) -> str:
        r = cells.get((model, config))
        if r is None:
            return DASH
        # The mark goes first: a right-aligned column then keeps every interval's digits in line
        # (a trailing " *" pushed the selected row two columns left).
        mark = "* " if r.get("candidate") == selected else ""
        return mark + interval(r.get("quality"), r.get("lo"), r.get("hi"))

    return Table(
        title=f"Demonstrations side by side: quality [{ci}] per configuration and model",
        headers=("demonstrations", *models),
        rows=tuple((c, *(cell(m, c) for m in models)) for c in configs),
        numeric=(False, *(True for _ in models)),
        highlight=tuple(any(cells.get((m, c), {}).get("candidate") == selected for m in models) for c in configs),
        footnotes=("* the selected configuration (cost + alpha x loss, see Results)",) if any(
            r.get("candidate") == selected for r in cells.values()) else ())


# (header, getter) of the optional measures columns; a column shows only if some row has it.
_MEASURE_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("params", lambda m, c, r: count(c.get("num_parameters")) if c.get("num_parameters") is not None else None),
    ("batch p50 s", lambda m, c, r: num(m.get("latency_p50"), 3) if m.get("latency_p50") is not None else None),
    ("batch p95 s", lambda m, c, r: num(m.get("latency_p95"), 3) if m.get("latency_p95") is not None else None),
    ("req p50 s", lambda m, c, r: quantile_cell(m, "request_latency_p50")),
    ("req p95 s", lambda m, c, r: quantile_cell(m, "request_latency_p95")),
    ("TTFT p50 s", lambda m, c, r: quantile_cell(m, "ttft_p50")),
    ("tokens/s", lambda m, c, r: num(m.get("tokens_per_second"), 4) if m.get("tokens_per_second") is not None
     else None),
    ("weights MiB", lambda m, c, r: mib((c.get("parameter_bytes") or 0) + (c.get("buffer_bytes") or 0))
     if c.get("parameter_bytes") is not None else None),
    ("peak MiB", lambda m, c, r: mib(m.get("peak_memory_bytes")) if m.get("peak_memory_bytes") is not None else None),
    ("energy J/1k", lambda m, c, r: num(r.get("energy_joules_per_1000_cases"), 3)
     if r.get("energy_joules_per_1000_cases") is not None else None),
    ("model s", lambda m, c, r: num(m.get("model_seconds"), 3) if m.get("model_seconds") is not None else None),
    ("rounds", lambda m, c, r: num(len(m["round_seconds"])) if m.get("round_seconds") else None),
    ("loads", lambda m, c, r: num(c.get("loads")) if c.get("loads") is not None else None),
    ("cached", lambda m, c, r: f"{m['cache_hits']}/{num(m.get('requests'))}" if m.get("cache_hits") else None),
)

MEMORY_METHOD_TEXT = {
    "cuda_allocator_peak": "weights + CUDA allocator peak during its work above what was allocated just before it",
    "rss_peak_growth": "weights + resident-set peak during its work (reset before it) above the resident set "
                       "just before it",
    "rss_growth": "weights + resident set after its work above the resident set just before it",
}


def _measures_table(results: Sequence[Mapping[str, Any]], cands: Mapping[str, Mapping[str, Any]]) -> Table | None:
    if not any(r.get("measures") for r in results):
        return None  # a task without timings (e.g. replayed outputs) gets no empty table
    cells = [[get(r.get("measures") or {}, cands.get(str(r.get("candidate"))) or {}, r)
              for _, get in _MEASURE_COLUMNS] for r in results]
    keep = [i for i in range(len(_MEASURE_COLUMNS)) if any(row[i] is not None for row in cells)]
    footnotes: tuple[str, ...] = ()
    if any((r.get("measures") or {}).get("parallel") for r in results):
        footnotes = ("timings taken under pytest -n (in parallel): less reliable",)
    if any((r.get("measures") or {}).get("cache_hits") for r in results):
        footnotes = (*footnotes, "cached: requests served from the response cache, of all requests; their "
                     "latency, model seconds and tokens are those measured when they were computed")
    methods = sorted({str(m) for r in results if (m := (r.get("measures") or {}).get("memory_method"))})
    footnotes += tuple(f"peak MiB: the candidate's own memory: {MEMORY_METHOD_TEXT.get(m, m)}" for m in methods)
    return Table(
        title="Measures (latency and time to first token in s, memory in MiB)",
        headers=("candidate", *(_MEASURE_COLUMNS[i][0] for i in keep)),
        rows=tuple((str(r.get("candidate")), *(row[i] or DASH for i in keep)) for r, row in zip(results, cells)),
        numeric=(False, *(True for _ in keep)),
        footnotes=footnotes)


def _by_objective(results: Sequence[Mapping[str, Any]], selected: Any) -> list[Mapping[str, Any]]:
    """The selected first, then by objective (what decides), lowest first; rows without one last."""
    def key(r: Mapping[str, Any]) -> tuple[int, float, str]:
        objective = r.get("objective")
        known = isinstance(objective, (int, float)) and not isinstance(objective, bool) and math.isfinite(objective)
        return (0 if r.get("candidate") == selected else 1 if known else 2,
                float(objective) if known else 0.0, str(r.get("candidate")))
    return sorted(results, key=key)


def overall_table(report: Report) -> Table:
    overall = report.get("overall") or {}
    cands = candidates_by_name(report)
    selected = (overall.get("selection") or {}).get("selected", report.get("selected"))
    results = _by_objective(overall.get("results") or [], selected)
    shares = overall.get("pick_probability") or {}
    basis = overall.get("quality_basis", "")
    # Across metrics of both directions a mean quality means nothing: the column is 1 - loss
    # when the losses are normalised, and absent when they are not.
    show_quality = any(r.get("quality") is not None for r in results)
    label = "1 - loss" if isinstance(basis, str) and basis.startswith("1 - ") else "quality"
    rows = tuple((str(r.get("candidate")), *((qual(r.get("quality")),) if show_quality else ()),
                  qual(r.get("loss")),
                  _cost_cell(r.get("cost"), cands.get(str(r.get("candidate"))), r.get("cost_lo"), r.get("cost_hi")),
                  spread(r.get("objective"), r.get("objective_lo"), r.get("objective_hi")),
                  percent(shares.get(r.get("candidate"))))
                 for r in results)
    notes = (f"{label}: {basis}",) if show_quality and label != "quality" else ()
    return Table(title="Overall",
                 headers=("candidate", *((label,) if show_quality else ()), "loss", "cost $/1k", "objective", "wins"),
                 rows=rows, numeric=(False, *((True,) if show_quality else ()), True, True, True, True),
                 highlight=tuple(r.get("candidate") == selected for r in results),
                 footnotes=notes + _default_footnote([row[0] for row in rows], report))


def overall_heading(report: Report) -> str:
    weights = (report.get("overall") or {}).get("weights") or (report.get("settings") or {}).get("weights") or {}
    text = ", ".join(f"{k} \u00d7{num(v)}" for k, v in weights.items())
    return "Overall" + (f" (task weights: {text})" if text else "")


def selected_overall(report: Report) -> str:
    selected = report.get("selected")
    return f"Selected overall: {selected if selected is not None else 'none (every candidate was excluded)'}"


# -- terminal rendering -------------------------------------------------------------------


_MIN_WRAP = 20


def _render_table(table: Table) -> str:
    from tabulate import tabulate  # here, not at module level: importing the package stays cheap

    mark = [SELECTED_MARK if h else "" for h in table.highlight] or [""] * len(table.rows)
    rows = [(m, *row) for m, row in zip(mark, table.rows)]
    headers = ("", *table.headers)
    aligns = ["left", *("right" if n else "left" for n in table.numeric)]
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows)]
    shrinkable = [i + 1 for i, n in enumerate(table.numeric) if not n]
    limits: list[int | None] = [None] * len(headers)
    while True:
        text = tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True,
                        colalign=aligns, maxcolwidths=limits, missingval=DASH)
        over = max(len(line) for line in text.splitlines()) - (WIDTH - 2)
        # Wrap text columns, the last one (verdict) first, until the table fits; a table of
        # long names that cannot fit stays wide rather than unreadably narrow.
        i = next((j for j in reversed(shrinkable) if widths[j] > _MIN_WRAP), None)
        if over <= 0 or i is None:
            break
        widths[i] = max(_MIN_WRAP, widths[i] - over)
        limits[i] = widths[i]
    lines = [table.title + ":", textwrap.indent(text, "  ")]
    lines += [f"  {f}" for f in table.footnotes]
    return "\n".join(lines)


def _render_notes(notes: Sequence[Note], indent: str = "") -> str:
    out = []
    for note in notes:
        label = f"{'WARNING: ' if note.warning else ''}{note.label}: "
        out.append(textwrap.fill(note.text, width=WIDTH, initial_indent=indent + label,
                                 subsequent_indent=indent + "    ", break_long_words=False, break_on_hyphens=False))
    return "\n".join(out)


def _rule(title: str, char: str = "=") -> str:
    return f"{char * 3} {title} ".ljust(WIDTH, char)[: max(WIDTH, len(title) + 5)]


def render_terminal(report: Report) -> str:
    """The whole report as plain text, readable at 120 columns; ends with ``Selected overall: X``."""
    report = inert_report(report)
    parts = [_rule("pytest-llmselect report"), _render_notes(header_notes(report))]
    for task in report.get("tasks") or []:
        parts.append(_rule(task_heading(task), "-"))
        parts.extend(_render_table(t) for t in task_tables(task, report))
        parts.append(_render_notes(selection_notes(task)))
    overall = report.get("overall") or {}
    parts.append(_rule(overall_heading(report), "-"))
    if overall.get("results"):
        parts.append(_render_table(overall_table(report)))
    parts.append(_render_notes(selection_notes(overall, overall.get("excluded"), show_selected=False)))
    parts.append(_rule("Legend", "-"))
    parts.append(_render_notes(legend_notes(report)))
    parts.append(selected_overall(report))
    return "\n\n".join(p for p in parts if p) + "\n"
