"""params.yaml -> validated, typed, immutable config, before any work starts.

Every problem becomes one line naming the key, e.g.
    params.yaml: stage1.train.optimizer.lr: must be greater than 0 (got -0.1)
params.yaml is read with ruamel.yaml (YAML 1.2, the parser DVC uses), so a value such as `1e-3`, or
one written by `dvc exp run -S`, means the same number to DVC and to this code. The config classes live
with the code that reads them; `cifar10_study.params.Params` assembles the whole file, and each stage
loads the View of the sections it reads.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from .errors import ConfigError
from .schema import describe

PARAMS = Path("params.yaml")
Config = TypeVar("Config", bound=BaseModel)


def read_params_file(path: str | Path = PARAMS) -> Any:
    """The parsed YAML of params.yaml; a missing file or a YAML error is a one-line ConfigError."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: not found; run from the repository root, where params.yaml lives")
    try:
        return YAML(typ="safe", pure=True).load(path.read_text())
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None


def parse(config: type[Config], raw: Any, source: str = "params.yaml") -> Config:
    """`raw` validated as `config`; any problem is a ConfigError with a one-line message."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of sections at the top level, got {type(raw).__name__}")
    try:
        return config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {describe(exc)}") from None


def load(config: type[Config], path: str | Path = PARAMS) -> Config:
    """Read params.yaml and validate it as `config` (the whole Params, or one stage's View)."""
    return parse(config, read_params_file(path), str(path))
