"""Base for every validated params section: unknown keys, wrong types and out-of-range values are errors."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

PROFILES = ("full", "preview", "quick", "smoke")
Profile = Literal["full", "preview", "quick", "smoke"]  # how much compute every stage spends (params.yaml `profile`)
# Profiles sized for a GPU: a run of theirs trains on the CPU only where runtime.device says cpu.
GPU_PROFILES = ("full", "preview")


class Section(BaseModel):
    """An immutable, strictly typed params section (no silent '5' -> 5 or 1 -> True coercions)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class View(BaseModel):
    """The part of params.yaml one stage reads, typed like a Section, the other keys ignored: check_params
    validates the whole file (every stage depends on its marker), so a stage imports only the config
    classes of the code it runs, and its DVC deps stay that code."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]


def describe(exc: ValidationError) -> str:
    """One line for the first error: dotted key path, the problem, and the offending value."""
    errors = exc.errors()
    err = errors[0]
    loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-after"))
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key (misspelt, or not read by any stage)"
    elif err["type"] == "missing":
        msg = "required key is missing"
    elif "input" in err and err["type"] not in ("model_type", "dict_type") and not isinstance(err["input"], dict):
        # A rule over a whole section (a model validator) gets the section as its input: the message names
        # what is wrong, and printing the section would make the one line kilobytes long.
        msg += f" (got {err['input']!r})"
    more = f" [and {len(errors) - 1} more problem(s)]" if len(errors) > 1 else ""
    return (f"{loc}: {msg}" if loc else msg) + more
