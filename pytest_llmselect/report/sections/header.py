"""The header section: the run, objective, prices, methods, cost model, energy and busy-machine lines."""

from __future__ import annotations

import math
from typing import Mapping

from .accounting import accounting_notes
from .formatting import names, num
from .judging import evaluation_cost_notes
from .measures import timing_notes
from .model import DEFAULT_PRICE_MARK, DEFAULT_UNITS, Note, Report
from .prices import is_default_price, price_text
from .race import race_notes

COST_MODEL_TEXT = {
    "time": "time: measured model seconds x USD per hour (plus token prices where set), the mean of the "
            "timed rounds after an untimed warm-up; its interval comes from the rounds' spread and a run-level "
            "drift allowance (one round, where cost could not change the pick: the allowance alone)",
    "tokens": "tokens: input and output tokens x USD per million tokens; exactly reproducible (no interval)",
    "flops": "flops: 2 x parameters x tokens FLOPs x USD per PFLOP; hardware-independent and exactly "
             "reproducible (no interval)",
}


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
    notes.extend(race_notes(report))
    notes.extend(timing_notes(report))
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
    quantized = [c for c in cands if isinstance(c.get("quantization"), Mapping)]
    if quantized:
        notes.append(Note("Quantised", "; ".join(
            f"{c.get('name')}: {c['quantization'].get('type')} GGUF file {c['quantization'].get('file')}, "
            f"dequantised to {c.get('dtype') or 'float32'}: its figures are the quantised model's" for c in quantized)))
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
    notes.extend(evaluation_cost_notes(report))
    return notes
