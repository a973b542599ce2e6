"""The selection lines under each task and the overall table: pick, ties, exclusions, alpha ranges."""

from __future__ import annotations

from typing import Any, Mapping

from .formatting import alpha_range, names, num, percent, sorted_alpha_ranges
from .judging import judge_notes
from .model import Note


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
        notes.append(Note("Ties", sel.get("tie_break") or f"{names(ties)} have the same objective as {selected}",
                          warning=True))
    left_out = block.get("left_out") or {}
    if left_out:
        notes.append(Note("Left out", "; ".join(f"task {k}: {v}" for k, v in left_out.items()), warning=True))
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
        notes.append(Note("Selected for alpha in", "; ".join(f"{k} {alpha_range(v)}" for k, v in sorted_alpha_ranges(ranges))))
    bounds = block.get("alpha_boundaries") or []
    if bounds:
        notes.append(Note("Alpha boundaries", "; ".join(_boundary(b) for b in bounds),
                          warning=any(b.get("uncertain") for b in bounds)))
    notes.extend(judge_notes(block))
    return notes


def _boundary(b: Mapping[str, Any]) -> str:
    where = f"{num(b.get('alpha'))} ({b.get('below')} | {b.get('above')})"
    if b.get("uncertain"):
        return f"{where} UNCERTAIN: {b.get('reason')}"
    return f"{where} between {num(b.get('lo'), 3)} and {num(b.get('hi'), 3)}"


def pick_note(block: Mapping[str, Any]) -> Note | None:
    """How often each candidate wins the argmin over resamples, and whether the pick is clear."""
    shares = block.get("pick_probability")
    if not isinstance(shares, Mapping) or not shares:
        return None
    selected = (block.get("selection") or {}).get("selected")
    ranked = sorted(shares.items(), key=lambda kv: (-float(kv[1] or 0), str(kv[0])))
    shown = [(c, v) for c, v in ranked if v] or ranked[:1]
    # A report from before the decision core holds bootstrap shares ("of resamples").
    tail = " (chance of the lowest objective)" if "clear_reason" in block else " of resamples"
    text = "; ".join(f"{c} wins in {percent(v)}" for c, v in shown) + tail
    if block.get("clear_pick"):
        return Note("Pick probability", f"clear pick ({selected}): {text}")
    reason = block.get("clear_reason")
    if "clear_reason" in block:
        settle = f"; {block['settle']}" if block.get("settle") else ""
        if reason and not str(reason).endswith("not distinguishable on the objective"):
            return Note("Pick probability", f"NO CLEAR PICK ({reason}): {text}{settle}", warning=True)
    else:  # a report written before the decision core: its own settle figure
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
    why = f"; not significantly worse on the objective than {selected}: {', '.join(close)}" if close else (
        f"; {reason}" if reason else "")
    return Note("Pick probability", f"NO CLEAR PICK: {text}{why}{settle}", warning=True)
