"""The measures table: cost-side figures per candidate (latency, throughput, memory, energy, loads)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from .formatting import count, mib, num, quantile_cell
from .model import DASH, Table


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


def measures_table(results: Sequence[Mapping[str, Any]], cands: Mapping[str, Mapping[str, Any]]) -> Table | None:
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
