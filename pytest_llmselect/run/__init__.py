"""One pytest session's run, in the order the data flows (see docs/architecture.md).

- ``settings``: the run's settings, read from options and ini keys by ``plugin.py``.
- ``events``: what the run tells the outside while it runs: progress lines, the run log,
  warnings, and (on an xdist worker) events waiting for the next test report.
- ``scheduling``: the order items run in and when a model may be released (``Scheduling``).
- ``plan``: items, tasks, (task, candidate) groups, and every case that must be accounted for.
- ``subset``: ``--llm-max-cases``: the first N cases of each task, the rest deselected.
- ``startup``: the header line, torch's import, the zoo build and GGUF conversions, before the first item.
- ``pool``: the model pool: one model loaded at a time, shared by its configurations.
- ``demonstrations``: the few-shot demonstrations of each case, chosen per group.
- ``runner``: batched model work per group, timing rounds, the response cache layer.
- ``records``: the ledger: scored, errored and not-run cases.
- ``inputs``: the run read out as analysis inputs (figures, candidates, measures).
- ``xdist``: the pytest-xdist bridge: scheduling by candidate, workers' results merged.
- ``session``: the thin object that composes the parts, kept in ``config.stash``.
- ``finish``: the report built from the run and written at session end.

Importing this package imports none of its modules.
"""
