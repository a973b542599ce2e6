"""The report's judge and sampling parts, as tables and notes every format renders: pass@k per
candidate, the judge's agreement with the reference metrics, the self-preference warning, and
the judges' evaluation cost. Render only: every figure comes from the report."""

from __future__ import annotations

from typing import Any, Mapping

from .formatting import interval, num
from .model import DASH, Note, Table

__all__ = ["evaluation_cost_notes", "judge_notes", "sampling_table"]


def sampling_table(task: Mapping[str, Any]) -> Table | None:
    """pass@k with intervals over cases, one row per candidate of a sampled task."""
    rows = [r for r in task.get("results") or [] if isinstance(r.get("sampling"), Mapping)]
    if not rows:
        return None
    keys = sorted({k for r in rows for k in r["sampling"] if k.startswith("pass@")}, key=lambda k: int(k[5:]))

    def cell(r: Mapping[str, Any], key: str) -> str:
        est = r["sampling"].get(key)
        return interval(est.get("value"), est.get("lo"), est.get("hi")) if isinstance(est, Mapping) else DASH

    body = tuple((str(r.get("candidate")), num(r["sampling"].get("samples")), *(cell(r, k) for k in keys))
                 for r in rows)
    spec = task.get("sampling") or {}
    return Table(
        title="Repeated sampling: pass@k over cases (Chen et al. 2021 unbiased estimator)",
        headers=("candidate", "samples", *keys), rows=body, numeric=(False, True, *(True,) * len(keys)),
        footnotes=(f"each case sampled {spec.get('samples', DASH)} times at temperature "
                   f"{spec.get('temperature') if spec.get('temperature') is not None else 'default'}; its score is "
                   f"{spec.get('reducer', 'mean')}; intervals over cases (a case's samples are one cluster)",))


def judge_notes(task: Mapping[str, Any]) -> list[Note]:
    """Who judged, how far its grades agree with the reference metrics, and self-preference."""
    judge = task.get("judge")
    if not isinstance(judge, Mapping):
        return []
    parts = []
    for a in judge.get("agreement") or []:
        what = "Cohen's kappa" if a.get("method") == "cohen_kappa" else "Spearman"
        if a.get("value") is None:
            parts.append(f"{a.get('kind')} vs {a.get('reference')}: {what} not measurable ({a.get('reason')})")
        else:
            parts.append(f"{a.get('kind')} vs {a.get('reference')}: {what} "
                         f"{interval(a.get('value'), a.get('lo'), a.get('hi'), signed=True)} (n {num(a.get('n'))})")
    text = (f"judge {judge.get('model')} graded {num(judge.get('graded'))} cases ({', '.join(judge.get('kinds') or [])}); "
            + ("; ".join(parts) if parts else "no reference metric to compare it with (llm_record(reference_scores=...))"))
    notes = [Note("Judge agreement", text)]
    if judge.get("warning"):
        notes.append(Note("Judge self-preference", str(judge["warning"]), warning=True))
    return notes


def evaluation_cost_notes(report: Mapping[str, Any]) -> list[Note]:
    """The judges' work, apart from the candidates' cost (it never enters the objective)."""
    notes = []
    for c in report.get("evaluation_cost") or []:
        usd = c.get("usd")
        notes.append(Note("Evaluation cost", (
            f"judge {c.get('judge')}: {num(c.get('grades'))} grades ({num(c.get('errors'))} errored), "
            f"{num(c.get('requests'))} requests ({num(c.get('cache_hits'))} from the cache), "
            f"{num(c.get('model_seconds'))} model s, loaded {num(c.get('loads'))}x"
            + (f", ${num(usd)} under the {c.get('cost_model')} cost model" if usd is not None else "")
            + "; not part of any candidate's cost")))
    return notes
