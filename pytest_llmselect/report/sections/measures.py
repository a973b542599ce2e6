"""The measures table: cost-side figures per candidate (latency, throughput, memory, energy, loads)."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from .formatting import count, decimals_for, fixed, fixed_interval, mib, num
from .model import DASH, Note, Table


Raw = Callable[[Mapping[str, Any], Mapping[str, Any], Mapping[str, Any]], Any]


def _at(where: str, key: str) -> Raw:
    """The raw ``key`` of the row's measures (``m``), candidate (``c``) or result (``r``)."""
    return lambda m, c, r: {"m": m, "c": c, "r": r}[where].get(key)


def _quantile(key: str) -> Raw:
    """A percentile with its interval ends, or the percentile alone where it has no interval fields."""
    def get(m: Mapping[str, Any], c: Mapping[str, Any], r: Mapping[str, Any]) -> Any:
        if m.get(key) is None:
            return None
        if f"{key}_lo" not in m and f"{key}_hi" not in m:
            return m[key]
        return (m[key], m.get(f"{key}_lo"), m.get(f"{key}_hi"))
    return get


def _weights(m: Mapping[str, Any], c: Mapping[str, Any], r: Mapping[str, Any]) -> Any:
    return (c.get("parameter_bytes") or 0) + (c.get("buffer_bytes") or 0) \
        if c.get("parameter_bytes") is not None else None


# (header, raw value, kind) of the optional measures columns; a column shows only if some row
# has it. "fixed" columns share one notation per column (decimals from their own values).
_MEASURE_COLUMNS: tuple[tuple[str, Raw, str], ...] = (
    ("params", _at("c", "num_parameters"), "count"),
    ("batch p50 s", _at("m", "latency_p50"), "fixed"),
    ("batch p95 s", _at("m", "latency_p95"), "fixed"),
    ("req p50 s", _quantile("request_latency_p50"), "fixed"),
    ("req p95 s", _quantile("request_latency_p95"), "fixed"),
    ("TTFT p50 s", _quantile("ttft_p50"), "fixed"),
    ("tokens/s", _at("m", "tokens_per_second"), "fixed"),
    ("weights MiB", _weights, "mib"),
    ("peak MiB", _at("m", "peak_memory_bytes"), "mib"),
    ("energy J/1k", _at("r", "energy_joules_per_1000_cases"), "fixed"),
    ("model s", _at("m", "model_seconds"), "fixed"),
    ("rounds", lambda m, c, r: len(m["round_seconds"]) if m.get("round_seconds") else None, "int"),
    ("loads", _at("c", "loads"), "int"),
    ("cached", lambda m, c, r: f"{m['cache_hits']}/{num(m.get('requests'))}" if m.get("cache_hits") else None,
     "text"),
)


def _column(values: list[Any], kind: str) -> list[str | None]:
    """One column's cells in one notation."""
    if kind == "fixed":
        flat = [x for v in values for x in (v if isinstance(v, tuple) else (v,))]
        dec = decimals_for(flat, digits=3)
        return [None if v is None else fixed_interval(*v, dec) if isinstance(v, tuple) else fixed(v, dec)
                for v in values]
    fmt: Callable[[Any], str] = {"count": count, "mib": mib, "int": lambda v: fixed(v, 0)}.get(kind, str)
    return [None if v is None else fmt(v) for v in values]


MEMORY_METHOD_TEXT = {
    "cuda_allocator_peak": "weights + CUDA allocator peak during its work above what was allocated just before it",
    "rss_peak_growth": "weights + resident-set peak during its work (reset before it) above the resident set "
                       "just before it",
    "rss_growth": "weights + resident set after its work above the resident set just before it",
}


def measures_table(results: Sequence[Mapping[str, Any]], cands: Mapping[str, Mapping[str, Any]]) -> Table | None:
    if not any(r.get("measures") for r in results):
        return None  # a task without timings (e.g. replayed outputs) gets no empty table
    raw = [[get(r.get("measures") or {}, cands.get(str(r.get("candidate"))) or {}, r)
            for _, get, _ in _MEASURE_COLUMNS] for r in results]
    columns = [_column([row[i] for row in raw], kind) for i, (_, _, kind) in enumerate(_MEASURE_COLUMNS)]
    cells = [[col[j] for col in columns] for j in range(len(results))]
    keep = [i for i in range(len(_MEASURE_COLUMNS)) if any(row[i] is not None for row in cells)]
    footnotes: tuple[str, ...] = ()
    if any((r.get("measures") or {}).get("parallel") for r in results):
        footnotes = ("timings taken under pytest -n (in parallel): less reliable",)
    if any((r.get("measures") or {}).get("cache_hits") for r in results):
        footnotes = (*footnotes, "cached: requests served from the response cache, of all requests; their "
                     "latency, model seconds and tokens are those measured when they were computed")
    retimed = [(r.get("candidate"), m["timing_rounds_reason"]) for r in results
               if isinstance(m := r.get("measures") or {}, Mapping) and m.get("timing_rounds_reason")]
    if retimed:
        footnotes = (*footnotes, "rounds: one timed pass, more where cost could change the pick: " + "; ".join(
            f"{c} ({why})" for c, why in retimed))
    methods = sorted({str(m) for r in results if (m := (r.get("measures") or {}).get("memory_method"))})
    footnotes += tuple(f"peak MiB: the candidate's own memory: {MEMORY_METHOD_TEXT.get(m, m)}" for m in methods)
    return Table(
        title="Measures (latency and time to first token in s, memory in MiB)",
        headers=("candidate", *(_MEASURE_COLUMNS[i][0] for i in keep)),
        rows=tuple((str(r.get("candidate")), *(row[i] or DASH for i in keep)) for r, row in zip(results, cells)),
        numeric=(False, *(True for _ in keep)),
        footnotes=footnotes)


def timing_notes(report: Mapping[str, Any]) -> list[Note]:
    """One line naming the groups timed again because their cost could change a pick (run/retiming.py);
    none when no group was."""
    retimed = [f"{t.get('name')} \u00b7 {r.get('candidate')}" for t in report.get("tasks") or [] if isinstance(t, Mapping)
               for r in t.get("results") or [] if isinstance(r, Mapping)
               and isinstance(r.get("measures"), Mapping) and r["measures"].get("timing_rounds_reason")]
    if not retimed:
        return []
    return [Note("Timing", f"one timed round per group; timed again, {len(retimed)} in all, where cost could "
                 f"change a pick: {', '.join(retimed)} (why: the measures' rounds)")]
