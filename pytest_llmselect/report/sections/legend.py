"""The legend section: one line per abbreviation and test the report uses."""

from __future__ import annotations

from .model import Note, Report


# (term, explanation, shown when): "always", or the comparison method names / report keys it explains.
LEGEND: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("CI", "confidence interval at the report's level (quality: see Quality intervals; cost: Student t over the "
           "timed rounds widened by a run-level drift allowance, or that allowance and the measured 10% spread of rounds after one round; "
           "objective: the two combined in quadrature)", ("always",)),
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
