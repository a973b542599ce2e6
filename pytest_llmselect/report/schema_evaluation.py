"""The report schema's parts for judges and repeated sampling (docs/report-schema.md,
"Judges and repeated sampling"): a task's judge block, a result's pass@k, a case's grades
and samples, and the judges' evaluation cost."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import model_validator

from .schema_types import Correlation, Count, CostModel, Finite, Name, NonNegative, Probability, _Model

__all__ = ["CaseGrade", "CaseSamples", "EvaluationCost", "PassAtK", "ResultSampling", "TaskJudge", "TaskSampling"]


class PassAtK(_Model):
    value: Probability
    lo: Optional[Probability] = None
    hi: Optional[Probability] = None
    method: Optional[str] = None


class ResultSampling(_Model):
    """Per candidate of a sampled task: pass@k over cases (keys "pass@1", "pass@5", ...)."""

    samples: Count
    cases: Count
    reducer: Optional[str] = None
    threshold: Optional[Finite] = None

    @model_validator(mode="after")
    def _pass_at_k(self) -> ResultSampling:
        for key, value in (self.model_extra or {}).items():
            if key.startswith("pass@"):
                PassAtK.model_validate(value)
        return self


class TaskSampling(_Model):
    samples: Count
    temperature: Optional[NonNegative] = None
    top_p: Optional[Probability] = None
    reducer: Optional[str] = None


class JudgeAgreement(_Model):
    kind: str
    reference: str
    method: Literal["cohen_kappa", "spearman"]
    value: Optional[Correlation]
    lo: Optional[Correlation] = None
    hi: Optional[Correlation] = None
    n: Count
    level: Optional[Probability] = None
    interval: Optional[str] = None
    reason: Optional[str] = None


class TaskJudge(_Model):
    model: Name
    source: Optional[str] = None
    kinds: list[str]
    graded: Count
    agreement: list[JudgeAgreement]
    self_preference: list[str]
    warning: Optional[str] = None


class CaseGrade(_Model):
    score: Optional[Probability]
    raw: Optional[Finite] = None
    method: Optional[Literal["logprobs", "generate"]] = None
    judge: Optional[str] = None
    judge_source: Optional[str] = None
    error: Optional[str] = None


class CaseSamples(_Model):
    scores: list[Finite]
    reducer: Optional[str] = None
    threshold: Optional[Finite] = None
    seeds: Optional[list[Count]] = None


class EvaluationCost(_Model):
    """What a judge model cost the run, apart from the candidates' cost."""

    judge: Name
    source: Optional[str] = None
    method: Optional[str] = None
    loads: Optional[Count] = None
    load_seconds: Optional[NonNegative] = None
    grades: Optional[Count] = None
    errors: Optional[Count] = None
    requests: Optional[Count] = None
    cache_hits: Optional[Count] = None
    batches: Optional[Count] = None
    model_seconds: Optional[NonNegative] = None
    input_tokens: Optional[Count] = None
    output_tokens: Optional[Count] = None
    usd: Optional[NonNegative] = None
    cost_model: Optional[CostModel] = None
