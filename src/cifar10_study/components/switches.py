"""A component under ablation: the flat params key that switches it, the value that turns it off, and the
sibling keys that only it reads.

A stage's full model uses every switch as params.yaml sets it; each ablation turns exactly one component off,
and its DVC stage declares neither that switch nor its settings, so changing them reruns the full model and
the other ablations only (tests/unit/test_wiring.py holds dvc.yaml to this).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from ..core.errors import ConfigError


@dataclass(frozen=True)
class Component:
    switch: str  # the key in the stage's params section, e.g. "dropout" for stage3.dropout
    off: Any  # the switch's value with the component off, e.g. False or 0.0
    settings: tuple[str, ...] = ()  # sibling keys read only when the component is on, e.g. ("mixup_alpha",)

    @property
    def ablation(self) -> str:
        """The ablation that turns this component off, e.g. no_dropout: its run and DVC stage name."""
        return f"no_{self.switch}"

    @property
    def label(self) -> str:
        """How the report names it, e.g. label smoothing."""
        return self.switch.replace("_", " ")

    @property
    def keys(self) -> tuple[str, ...]:
        """Every params key of the component: its switch and its settings."""
        return (self.switch, *self.settings)


def ablations(components: Sequence[Component]) -> tuple[str, ...]:
    """The ablation names, in declaration order."""
    return tuple(c.ablation for c in components)


def turned_off(components: Sequence[Component], ablation: str, stage: str) -> Component:
    """The component `ablation` turns off; an unknown name is a one-line error listing the valid ones."""
    for component in components:
        if component.ablation == ablation:
            return component
    raise ConfigError(f"unknown {stage} ablation {ablation!r}; valid: {', '.join(ablations(components))}")


def switched(section: Any, components: Sequence[Component], ablation: str | None, stage: str) -> dict[str, Any]:
    """Switch -> setting of every component as `section` (the stage's params section) sets it, with
    `ablation`'s component turned off."""
    values = {c.switch: getattr(section, c.switch) for c in components}
    if ablation is not None:
        component = turned_off(components, ablation, stage)
        values[component.switch] = component.off
    return values


def keys_declared_by(components: Sequence[Component], ablation: str | None) -> set[str]:
    """The component keys a run's DVC stage declares: every component's, but for an ablation not those of the
    component it turns off."""
    return {key for c in components if c.ablation != ablation for key in c.keys}
