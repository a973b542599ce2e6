"""What every zoo task is made of: a training example, and the end of an answer."""

from __future__ import annotations

from dataclasses import dataclass

ANSWER_END = "\n"


@dataclass(frozen=True)
class TrainingExample:
    """``prompt`` is context only (no loss); ``target`` is what the model learns to emit."""

    family: str
    prompt: str
    target: str
