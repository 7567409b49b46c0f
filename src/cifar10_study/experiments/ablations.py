"""Component switches and the ablations that turn them off, shared by Stages 3 and 5.

A stage's components are flat params keys (e.g. stage5.se, stage5.mixup, stage5.cutout). Its full
model uses them as set; each ablation turns exactly one off. In dvc.yaml an ablation does not declare
the key it switches off, so changing that key reruns the full model and the other ablations only.
"""
from __future__ import annotations

from typing import Any, Mapping

from ..core.errors import ConfigError


def switched(values: Mapping[str, Any], ablations: Mapping[str, tuple[str, Any]], ablation: str | None,
             stage: str) -> dict[str, Any]:
    """`values` (switch name -> setting) with `ablation`'s switch set to its "off" value.

    ablations: ablation name -> (switch name, off value), e.g. {"no_se": ("se", False)}.
    """
    values = dict(values)
    if ablation is not None:
        if ablation not in ablations:
            raise ConfigError(f"unknown {stage} ablation {ablation!r}; valid: {', '.join(ablations)}")
        key, off = ablations[ablation]
        values[key] = off
    return values
