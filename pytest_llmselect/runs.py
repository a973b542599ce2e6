"""A saved run report as an object, and as pandas tables for analysis in a notebook.

``load_run("run.json").to_frame("results")`` is the quickest way to compare runs or to
plot something the HTML report does not; pandas is imported only when a frame is built.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import SpecError
from .report.jsonio import load_report

if TYPE_CHECKING:
    import pandas

FRAME_KINDS = ("cases", "results", "overall")

_CASE_COLUMNS = ("task", "case_id", "candidate", "score", "output", "group", "nodeid")
_RESULT_COLUMNS = ("task", "candidate", "n", "quality", "lo", "hi", "loss", "cost", "objective", "selected",
                   "min_quality_passed", "verdict", "cost_lo", "cost_hi", "cost_method", "objective_lo",
                   "objective_hi")
_OVERALL_COLUMNS = ("candidate", "quality", "loss", "cost", "objective", "selected", "cost_lo", "cost_hi",
                    "objective_lo", "objective_hi")


@dataclass(frozen=True, eq=False)
class Run:
    """A loaded run report (``report``, schema version 1) and the file it came from."""

    report: dict[str, Any]
    path: Path | None = None

    @property
    def selected(self) -> str | None:
        return self.report.get("selected")

    def to_frame(self, kind: str = "cases") -> pandas.DataFrame:
        """One row per (task, case_id, candidate) for ``"cases"``, per (task, candidate) for
        ``"results"`` (measures flattened into columns), per candidate for ``"overall"``."""
        if kind not in FRAME_KINDS:
            raise SpecError(f"to_frame kind must be one of {', '.join(map(repr, FRAME_KINDS))}, "
                            f"got {kind!r} of type {type(kind).__name__}")
        import pandas

        if kind == "cases":
            rows = [{c: case.get(c) for c in _CASE_COLUMNS} for case in self.report.get("cases") or []]
            return pandas.DataFrame(rows, columns=list(_CASE_COLUMNS))
        if kind == "overall":
            overall = self.report.get("overall") or {}
            chosen = (overall.get("selection") or {}).get("selected", self.report.get("selected"))
            rows = [{**{c: r.get(c) for c in _OVERALL_COLUMNS}, "selected": r.get("candidate") == chosen}
                    for r in overall.get("results") or []]
            return pandas.DataFrame(rows, columns=list(_OVERALL_COLUMNS))
        return self._results_frame(pandas)

    def _results_frame(self, pandas: Any) -> pandas.DataFrame:
        rows: list[dict[str, Any]] = []
        measure_columns: dict[str, None] = {}  # ordered set: first-seen order of measure names
        for task in self.report.get("tasks") or []:
            chosen = (task.get("selection") or {}).get("selected")
            for r in task.get("results") or []:
                row = {c: r.get(c) for c in _RESULT_COLUMNS}
                row.update(task=task.get("name"), selected=r.get("candidate") == chosen,
                           verdict=(r.get("comparison") or {}).get("verdict"))
                for key, value in (r.get("measures") or {}).items():
                    # A measure named like a core column must not overwrite it.
                    column = f"measure_{key}" if key in _RESULT_COLUMNS else key
                    measure_columns[column] = None
                    row[column] = value
                rows.append(row)
        return pandas.DataFrame(rows, columns=[*_RESULT_COLUMNS, *measure_columns])


def load_run(path: str | os.PathLike[str]) -> Run:
    """Load and validate a JSON run report (see ``load_report`` for the errors it raises)."""
    return Run(report=load_report(path), path=Path(path))
