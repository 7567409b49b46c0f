"""Base for every validated params section: unknown keys, wrong types and out-of-range values are errors."""
from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class Section(BaseModel):
    """An immutable, strictly typed params section (no silent '5' -> 5 or 1 -> True coercions)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]
