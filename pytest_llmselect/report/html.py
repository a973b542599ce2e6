"""One self-contained HTML file: cost-versus-quality plots, the tables, per-case outputs.

Self-contained means no URL at all (CSS inline, plots as inline SVG), so the file can be
archived as a CI artifact and opened offline. Every string from the report goes through
``html.escape``: model outputs are arbitrary text and must never become markup. The page
has no script, and its Content-Security-Policy forbids scripts anyway, as a second line of
defence should an escape ever be missed. matplotlib is imported only when a plot is drawn,
so importing the report package stays cheap.
"""

from __future__ import annotations

import html
import io
import math
import warnings
from typing import Any, Iterable, Mapping, Sequence

from .sections.formatting import num
from .sections.header import header_notes
from .sections.inert import inert_report
from .sections.legend import legend_notes
from .sections.model import DASH, Note, Report, Table
from .sections.overall import confident_overall, overall_heading, overall_table, selected_overall
from .sections.per_task import task_heading, task_tables
from .sections.prices import candidates_by_name, is_default_price
from .sections.selection_notes import selection_notes
from .sections.summary import metric_label, summary_table

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1f2328;
  margin:0 auto;max-width:1240px;padding:16px 24px;background:#fff}
h1{font-size:24px;margin:8px 0}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
h3{font-size:15px;margin:14px 0 6px}
.selected{font-size:18px;padding:8px 12px;background:#dafbe1;border:1px solid #4ac26b;border-radius:6px;display:inline-block}
.unsure{font-size:18px;padding:8px 12px;background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;display:inline-block}
ul.notes{padding-left:18px;margin:8px 0}ul.notes li{margin:2px 0}
li.warn{background:#fff8c5;border-left:4px solid #d4a72c;padding:2px 6px;list-style:none;margin-left:-18px}
nav a{margin-right:12px}
.row{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.row figure{margin:0;flex:0 0 auto}.row .tables{flex:1 1 520px;min-width:0}
figure svg{max-width:100%;height:auto;border:1px solid #d0d7de;border-radius:6px}
figcaption{font-size:12px;color:#57606a;max-width:640px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;margin:4px 0 6px;font-size:13px}
th,td{border:1px solid #d0d7de;padding:3px 8px;vertical-align:top;text-align:left}
th{background:#f6f8fa}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td.num span{white-space:nowrap}
tr.sel td{background:#dafbe1;font-weight:600}
.foot{font-size:12px;color:#57606a;margin:0 0 8px}
details{margin:10px 0;border:1px solid #d0d7de;border-radius:6px;padding:4px 10px}
summary{cursor:pointer;font-weight:600}
table.cases td{max-width:360px}
.out{font:12px/1.35 ui-monospace,"DejaVu Sans Mono",monospace;white-space:pre-wrap;word-break:break-word;
  max-height:9em;overflow:auto;margin-top:2px}
.score{font-weight:600;font-variant-numeric:tabular-nums}
footer{margin-top:32px;font-size:12px;color:#57606a}
"""


def e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table_html(table: Table, css_class: str = "") -> str:
    highlight = table.highlight or (False,) * len(table.rows)
    head = "".join(f'<th class="num">{e(h)}</th>' if n else f"<th>{e(h)}</th>"
                   for h, n in zip(table.headers, table.numeric))
    body = []
    for row, hi in zip(table.rows, highlight):
        cells = "".join(f'<td class="num">{_num_cell(c)}</td>' if n else f"<td>{e(c)}</td>"
                        for c, n in zip(row, table.numeric))
        body.append(f'<tr class="sel">{cells}</tr>' if hi else f"<tr>{cells}</tr>")
    cls = f' class="{css_class}"' if css_class else ""
    foot = "".join(f'<p class="foot">{e(f)}</p>' for f in table.footnotes)
    return (f"<h3>{e(table.title)}</h3><div class=\"scroll\"><table{cls}><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>{foot}")


def _num_cell(text: str) -> str:
    """A value and its interval may wrap between the two, never inside either: a narrow
    window gets a taller row rather than a table wider than the page."""
    value, sep, rest = str(text).partition(" [")
    return f"<span>{e(value)}</span>" + (f" <span>[{e(rest)}</span>" if sep else "")


def _notes_html(notes: Sequence[Note]) -> str:
    warn = ' class="warn"'
    items = "".join(f"<li{warn if n.warning else ''}><strong>{e(n.label)}:</strong> {e(n.text)}</li>"
                    for n in notes)
    return f'<ul class="notes">{items}</ul>' if items else ""


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _place_labels(ax: Any, texts: list[Any], xs: list[float], ys: list[float]) -> None:
    """Move the point labels apart so no two overlap (adjustText, from the html extra); without
    it they stay beside their points, which may overlap where points crowd."""
    if len(texts) < 2:
        return
    try:
        from adjustText import adjust_text
    except ImportError:
        return
    adjust_text(texts, x=xs, y=ys, ax=ax, expand=(1.15, 1.4), ensure_inside_axes=True,
                arrowprops={"arrowstyle": "-", "color": "#8c959f", "lw": 0.6})


_SUPERSCRIPT = str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")


def _power_of_ten(x: float, _pos: Any = None) -> str:
    """A log axis's tick label as plain text, 10 with a superscript exponent (10⁻³): matplotlib's
    own labels are mathtext, which it parses again for every drawing of every plot."""
    if not x > 0:
        return ""
    exponent = math.log10(x)
    if abs(exponent - round(exponent)) > 1e-9:
        return f"{x:g}"
    return "10" + str(round(exponent)).translate(_SUPERSCRIPT)


def _plot(results: Sequence[Mapping[str, Any]], *, title: str, ylabel: str, pareto: Sequence[str],
          selected: Any, excluded: Iterable[str], cost_label: str, key: str) -> tuple[str, list[str]]:
    """An inline SVG of ``ylabel`` against cost, and the names that could not be placed. Text
    stays text (``svg.fonttype: none``) so the page can be searched and measured; each point
    label is a group ``{key}-label-N``."""
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, NullFormatter

    # A bare Figure on an Agg canvas: no pyplot, so no global backend switch or figure
    # registry in the user's process (pytest may run inside a GUI session).
    fig = Figure(figsize=(6.4, 4.4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    excluded = set(excluded)
    points = {str(r.get("candidate")): r for r in results
              if _finite(r.get("cost")) and _finite(r.get("quality"))}
    missing = [str(r.get("candidate")) for r in results if str(r.get("candidate")) not in points]
    costs = [float(r["cost"]) for r in points.values()]
    # Costs spanning orders of magnitude would crowd the cheap models into one corner.
    log_x = bool(costs) and min(costs) > 0 and max(costs) / min(costs) >= 50
    texts, xs, ys = [], [], []
    for i, (name, r) in enumerate(points.items()):
        x, y = float(r["cost"]), float(r["quality"])
        lo, hi = r.get("lo"), r.get("hi")
        yerr = [[max(0.0, y - lo)], [max(0.0, hi - y)]] if _finite(lo) and _finite(hi) else None
        is_sel, on_front = name == selected, name in pareto
        color = "#cf222e" if is_sel else ("#0969da" if on_front else "#6e7781")
        ax.errorbar([x], [y], yerr=yerr, fmt="*" if is_sel else "o", ms=16 if is_sel else 7, color=color,
                    mfc="white" if name in excluded else color, ecolor=color, elinewidth=1.2, capsize=4,
                    zorder=3 if is_sel else 2)
        label = name if len(name) <= 40 else name[:39] + "\u2026"
        # parse_math=False: a "$" in a model name must not switch matplotlib to mathtext.
        text = ax.text(x, y, label, fontsize=8.5, parse_math=False, fontweight="bold" if is_sel else "normal",
                       color="#1f2328", ha="left", va="bottom", zorder=4)
        text.set_gid(f"{key}-label-{i}")
        texts.append(text)
        xs.append(x)
        ys.append(y)
    front = sorted((points[n] for n in pareto if n in points), key=lambda r: float(r["cost"]))
    if len(front) > 1:
        ax.plot([float(r["cost"]) for r in front], [float(r["quality"]) for r in front], "-", color="#0969da",
                lw=1.5, alpha=0.7, zorder=1)
    if log_x:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(_power_of_ten))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.margins(x=0.15, y=0.12)
    ax.set_xlabel(cost_label)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=11, loc="left")
    ax.grid(True, alpha=0.3)
    # Legend entries only for the kinds of point this plot shows; outside the axes, so no
    # point label can fall under it.
    handles = [h for h, shown in (
        (Line2D([], [], color="#0969da", marker="o", lw=1.5, label="Pareto front"), bool(set(pareto) & set(points))),
        (Line2D([], [], color="#cf222e", marker="*", ms=12, lw=0, label="selected"), selected in points),
        (Line2D([], [], color="#6e7781", marker="o", lw=0, label="dominated"),
         any(n not in pareto and n != selected and n not in excluded for n in points)),
        (Line2D([], [], color="#6e7781", marker="o", mfc="white", lw=0, label="excluded"),
         bool(excluded & set(points)))) if shown]
    if handles:
        legend = ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                           framealpha=0.85, borderaxespad=0.0)
        legend.set_gid(f"{key}-legend")
    fig.tight_layout()
    _place_labels(ax, texts, xs, ys)
    buf = io.StringIO()
    with warnings.catch_warnings(), rc_context({"svg.fonttype": "none", "svg.hashsalt": key}):
        # A name in a script the bundled font lacks draws as boxes in the plot (the tables
        # show it properly); that is no reason to put a warning in the user's test summary.
        warnings.filterwarnings("ignore", message="Glyph .* missing from", category=UserWarning)
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    svg = buf.getvalue()
    return svg[svg.index("<svg"):], missing


def _figure(results: Sequence[Mapping[str, Any]], block: Mapping[str, Any], *, title: str, ylabel: str,
            report: Report, key: str) -> str:
    sel = block.get("selection") or {}
    excluded = set(sel.get("excluded") or {}) | set(block.get("excluded") or {})
    cands = candidates_by_name(report)
    assumed = any(is_default_price(cands.get(str(r.get("candidate")))) for r in results)
    cost_label = "cost, USD per 1,000 cases" + (" (some prices ASSUMED defaults)" if assumed else "")
    svg, missing = _plot(results, title=title, ylabel=ylabel, pareto=[str(p) for p in block.get("pareto") or []],
                         selected=sel.get("selected"), excluded=[str(x) for x in excluded], cost_label=cost_label,
                         key=key)
    bars = any(_finite(r.get("lo")) and _finite(r.get("hi")) for r in results)
    # The caption names the axes the plot has (a weighted loss is not "quality").
    caption = (f"{ylabel[:1].upper()}{ylabel[1:]} against cost (USD per 1,000 cases)"
               + ("; bars are the intervals" if bars else "") + "; the line joins the Pareto front.")
    if missing:
        caption += f" Not plotted (no finite cost or quality): {', '.join(missing)}."
    return (f'<figure role="img" aria-label="{e(ylabel + " against cost: " + title)}">{svg}'
            f"<figcaption>{e(caption)}</figcaption></figure>")


def _score_style(score: Any) -> str:
    if not _finite(score) or not 0.0 <= score <= 1.0:
        return ""
    # Red (0) to green (1): a column of failures is visible without reading the numbers.
    return f' style="background:hsl({round(120 * score)},65%,90%)"'


def _cases_html(task_name: str, cases: Sequence[Mapping[str, Any]], order: Sequence[str]) -> str:
    if not cases:
        return ""
    candidates = list(dict.fromkeys([*(n for n in order if any(c.get("candidate") == n for c in cases)),
                                     *(str(c.get("candidate")) for c in cases)]))
    cells: dict[tuple[str, str], Mapping[str, Any]] = {}
    groups: dict[str, Any] = {}
    for c in cases:
        cells[(str(c.get("case_id")), str(c.get("candidate")))] = c
        groups.setdefault(str(c.get("case_id")), c.get("group"))
    show_group = any(g is not None for g in groups.values())
    head = "<th>case id</th>" + ("<th>group</th>" if show_group else "") + "".join(
        f"<th>{e(n)}</th>" for n in candidates)
    rows = []
    for case_id, group in groups.items():
        tds = [f"<td>{e(case_id)}</td>"] + ([f"<td>{e(DASH if group is None else group)}</td>"] if show_group else [])
        for name in candidates:
            c = cells.get((case_id, name))
            if c is None:
                tds.append(f"<td>{DASH}</td>")
                continue
            if c.get("status") == "errored":
                tds.append(f'<td style="background:#ffebe9"><span class="score">error</span>'
                           f'<div class="out">{e(c.get("error") or DASH)}</div></td>')
                continue
            out = c.get("output")
            tds.append(f"<td{_score_style(c.get('score'))}><span class=\"score\">{e(num(c.get('score'), 3))}</span>"
                       f"<div class=\"out\">{e(DASH if out is None else out)}</div></td>")
        rows.append(f"<tr>{''.join(tds)}</tr>")
    return (f"<details><summary>Per-case scores and outputs: {e(task_name)} ({len(groups)} cases \u00d7 "
            f"{len(candidates)} candidates)</summary><div class=\"scroll\"><table class=\"cases\"><thead><tr>"
            f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div></details>")


def _footer(report: Report) -> str:
    machine = report.get("machine") or {}
    suite = report.get("suite") or {}
    items = [f"{k}: {v}" for k, v in machine.items() if v is not None]
    if suite:
        items.append(f"suite: {', '.join(map(str, suite.get('paths') or []))} (fingerprint {suite.get('fingerprint')})")
    items.append(f"schema version {report.get('schema_version')}")
    return "<footer>" + " \u00b7 ".join(e(i) for i in items) + "</footer>"


def render_html(report: Report) -> str:
    """The whole report as one HTML document with no external references and no scripts."""
    report = inert_report(report)
    tasks = list(report.get("tasks") or [])
    overall = report.get("overall") or {}
    order = [str(c.get("name")) for c in report.get("candidates") or []]
    by_task: dict[str, list[Mapping[str, Any]]] = {}
    for case in report.get("cases") or []:
        by_task.setdefault(str(case.get("task")), []).append(case)
    picks = summary_table(report)
    nav = "".join(f'<a href="#task-{i}">{e(t.get("name"))}</a>' for i, t in enumerate(tasks))
    body = [
        "<h1>pytest-llmselect report</h1>",
        f'<p class="{"selected" if confident_overall(report) else "unsure"}">{e(selected_overall(report))}'
        f'{"" if confident_overall(report) else " (no clear pick)"}</p>',
        _table_html(picks) if picks is not None else "",
        _notes_html(header_notes(report)),
        f'<nav><a href="#overall">Overall</a>{nav}</nav>',
        f'<section id="overall"><h2>{e(overall_heading(report))}</h2><div class="row">',
    ]
    if overall.get("results"):
        basis = overall.get("quality_basis")
        if any(r.get("quality") is not None for r in overall["results"]):
            ylabel = "1 - weighted loss" if isinstance(basis, str) and basis.startswith("1 - ") else "weighted quality"
            points = overall["results"]
        else:  # no common quality scale: plot the loss the objective uses (lower is better)
            ylabel = "weighted loss (lower is better)"
            points = [{**r, "quality": r.get("loss")} for r in overall["results"]]
        body.append(_figure(points, overall, title="Overall", ylabel=ylabel, report=report, key="overall"))
        body.append(f'<div class="tables">{_table_html(overall_table(report))}'
                    f'{_notes_html(selection_notes(overall, overall.get("excluded"), show_selected=False))}</div>')
    else:
        body.append(_notes_html(selection_notes(overall, overall.get("excluded"), show_selected=False)))
    body.append("</div></section>")
    for i, task in enumerate(tasks):
        tables = task_tables(task, report)
        # The results table is the widest (verdicts), so it gets the full width; the plot sits
        # beside the notes; comparison and measures share the next row, wrapping when narrow.
        first = _table_html(tables[0]) if tables else ""
        body.append(f'<section id="task-{i}"><h2>{e(task_heading(task))}</h2>{first}<div class="row">')
        if task.get("results"):
            body.append(_figure(task["results"], task, title=str(task.get("name")), report=report, key=f"task{i}",
                                ylabel=metric_label(task)))
        body.append(f'<div class="tables">{_notes_html(selection_notes(task))}</div></div>')
        body.append('<div class="row">' + "".join(f"<div>{_table_html(t)}</div>" for t in tables[1:]) + "</div>")
        body.append(_cases_html(str(task.get("name")), by_task.get(str(task.get("name")), []), order))
        body.append("</section>")
    body.append(f'<section id="legend"><h2>Legend</h2>{_notes_html(legend_notes(report))}</section>')
    body.append(_footer(report))
    title = e(f"pytest-llmselect report: {selected_overall(report)}")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{title}</title><style>{_CSS}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n")
