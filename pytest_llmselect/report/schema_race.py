"""The report's ``race`` block (``--llm-race``, run/racing.race_report), validated like the rest."""

from __future__ import annotations

from typing import Optional

from .schema_types import Count, Finite, Name, NonNegative, Probability, _Model


class RaceFigures(_Model):
    requests: NonNegative
    model_seconds: NonNegative
    tokens: NonNegative


class RaceShare(_Model):
    requests: Optional[Probability] = None
    model_seconds: Optional[Probability] = None
    tokens: Optional[Probability] = None


class RacedOut(_Model):
    candidate: Name
    cases: Count
    not_run: Count
    stage: Count
    leader: Name
    reason: str
    lower: Finite
    saved: RaceFigures


class RaceTask(_Model):
    task: Name
    stages: list[Count]
    stages_run: Count
    leader: Optional[str] = None
    raced_out: list[RacedOut]


class Race(_Model):
    setting: str
    guarantee: str
    tasks: list[RaceTask]
    spent: RaceFigures
    saved: RaceFigures
    share_of_full: RaceShare
    saved_method: Optional[str] = None
