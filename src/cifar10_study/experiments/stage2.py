"""Stage 2, part 1: width and depth scaling variants of the baseline.

Every variant is the Stage 1 baseline with a wider or deeper configuration, trained with Stage 1's recipe and
budget (`stage1.train` with the active profile's `stage1.<profile>` block) once per seed of `stage2.seeds`,
recording per-step loss and gradient norm in runs/stage2/<variant>/<seed>/. So the baseline they are compared
with is the Stage 1 runs themselves (runs/stage1/<seed>/, which record the same steps). Their diagnostics (overfitting,
optimisation stability) are analysis (analysis/stage2_results.py), from those files.
"""
from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field, model_validator

from ..core.errors import ConfigError
from ..core.layout import STAGE2_BASELINE, variant_run
from ..core.schema import PositiveInt, Section
from ..core.seeds import Seeds
from ..data.cifar10 import Splits
from ..models.baseline import BaselineCNNConfig
from ..training.checkpoint import Checkpoints
from ..training.recipe import seeded
from ..training.train_run import Run, train_run
from .stage1 import BaselineParams


class ScalingVariant(Section):
    width: PositiveInt = 1  # multiplies the channels of every conv layer of the Stage 1 baseline
    # conv -> ReLU layers per stage (no pooling between them); None: the baseline's (stage1.model's)
    convs_per_stage: PositiveInt | None = None


class Stage2Config(Section):
    """Scaling variants of the baseline, each trained with Stage 1's recipe and budget once per seed of
    `seeds` (stage2@<variant>-<seed>)."""

    seeds: Seeds
    variants: dict[Annotated[str, Field(pattern=r"^[a-z0-9_]+$")], ScalingVariant] = Field(min_length=1)
    loss_window: int = Field(20, ge=2)  # steps per window of the loss-spread (stability) diagnostic
    # Validation accuracy that counts as learning (chance is 0.1): a variant below it is left out of the
    # overfitting and stability comparisons, and it judges which depths of the vanishing-gradient test learn.
    learned_accuracy: float = Field(0.2, gt=0.1, lt=1)

    @model_validator(mode="after")
    def _baseline_name_not_a_variant(self):
        # The analysis names the Stage 1 run's row "baseline"; a variant of that name would hide it.
        if STAGE2_BASELINE in self.variants:
            raise ValueError(f"stage2.variants.{STAGE2_BASELINE}: the baseline is the Stage 1 run, compared with "
                             f"every variant; name the variants for their shape (e.g. width_x2)")
        return self


class Stage2Params(BaselineParams):
    """What a stage2@<variant> stage reads: the baseline and its recipe, and the variants."""

    stage2: Stage2Config

    @model_validator(mode="after")
    def _baseline_shape_not_a_variant(self):
        # The baseline is the Stage 1 run: a variant of its shape would train it a second time.
        for name, variant in self.stage2.variants.items():
            if variant_model(self.stage1.model, variant) == self.stage1.model:
                raise ValueError(f"stage2.variants.{name}: width 1 and convs_per_stage "
                                 f"{self.stage1.model.convs_per_stage} give stage1.model, the baseline, which is the "
                                 f"Stage 1 run compared with every variant; give each variant another width or depth")
        return self


def variant_model(base: BaselineCNNConfig, variant: ScalingVariant) -> BaselineCNNConfig:
    return base.scaled(variant.width, variant.convs_per_stage)


def train_variant(params: Stage2Params, name: str, seed: str, data: Splits, device: torch.device,
                  checkpoints: Checkpoints | None = None) -> Run:
    """Train variant `name` with one seed (a key of stage2.seeds) into runs/stage2/<variant>/<seed>/."""
    if name not in params.stage2.variants:
        raise ConfigError(f"unknown stage2 variant {name!r}; params.yaml stage2.variants has "
                          f"{', '.join(sorted(params.stage2.variants))}")
    model_cfg = variant_model(params.stage1.model, params.stage2.variants[name])
    return train_run(f"{variant_run(name)}/{seed}", model_cfg, seeded(params.stage1.train_for(params.profile), seed),
                     data,
                     profile=params.profile, device=device, runtime=params.runtime, record_steps=True,
                     predictions=True, checkpoints=checkpoints)
