"""The value types every part of the report schema shares (report/schema.py)."""

from __future__ import annotations

from typing import Literal, Union

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import Annotated

__all__ = ["Correlation", "Count", "CostModel", "Finite", "Name", "NonNegative", "Probability", "Scalar", "_Model"]

Finite = Annotated[float, Field(allow_inf_nan=False, ge=-1e300, le=1e300)]
NonNegative = Annotated[float, Field(allow_inf_nan=False, ge=0, le=1e300)]
Probability = Annotated[float, Field(allow_inf_nan=False, ge=0, le=1)]
Count = Annotated[int, Field(ge=0, le=10**15)]
Name = Annotated[str, Field(min_length=1)]
Scalar = Union[str, int, float, bool, None]
CostModel = Literal["time", "tokens", "flops"]


class _Model(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")


Correlation = Annotated[float, Field(allow_inf_nan=False, ge=-1, le=1)]
