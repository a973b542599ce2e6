"""Model-graded metrics: a judge model grades a candidate's output (a 1-5 rubric score or a
yes/no verdict against the reference), and the report measures how far it agrees with a
reference metric. ``rubric`` and ``agreement`` are pure; ``prompts`` renders Jinja2 templates."""

from __future__ import annotations
