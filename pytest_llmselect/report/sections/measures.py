"""The measures table: cost-side figures per candidate (latency, throughput, memory, energy, loads)."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from .formatting import count, mib, num, quantile_cell
from .model import DASH, Table


Getter = Callable[[Mapping[str, Any], Mapping[str, Any], Mapping[str, Any]], "str | None"]


def _field(where: str, key: str, fmt: Callable[[Any], str]) -> Getter:
    """A cell that formats ``key`` of the row's measures (``m``), candidate (``c``) or result
    (``r``), or None where the field is absent."""
    def get(m: Mapping[str, Any], c: Mapping[str, Any], r: Mapping[str, Any]) -> str | None:
        value = {"m": m, "c": c, "r": r}[where].get(key)
        return None if value is None else fmt(value)
    return get


def _num3(value: Any) -> str:
    return num(value, 3)


# (header, getter) of the optional measures columns; a column shows only if some row has it.
_MEASURE_COLUMNS: tuple[tuple[str, Getter], ...] = (
    ("params", _field("c", "num_parameters", count)),
    ("batch p50 s", _field("m", "latency_p50", _num3)),
    ("batch p95 s", _field("m", "latency_p95", _num3)),
    ("req p50 s", lambda m, c, r: quantile_cell(m, "request_latency_p50")),
    ("req p95 s", lambda m, c, r: quantile_cell(m, "request_latency_p95")),
    ("TTFT p50 s", lambda m, c, r: quantile_cell(m, "ttft_p50")),
    ("tokens/s", _field("m", "tokens_per_second", num)),
    ("weights MiB", lambda m, c, r: mib((c.get("parameter_bytes") or 0) + (c.get("buffer_bytes") or 0))
     if c.get("parameter_bytes") is not None else None),
    ("peak MiB", _field("m", "peak_memory_bytes", mib)),
    ("energy J/1k", _field("r", "energy_joules_per_1000_cases", _num3)),
    ("model s", _field("m", "model_seconds", _num3)),
    ("rounds", lambda m, c, r: num(len(m["round_seconds"])) if m.get("round_seconds") else None),
    ("loads", _field("c", "loads", num)),
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
