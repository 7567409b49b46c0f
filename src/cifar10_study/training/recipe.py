"""A training recipe as params.yaml writes it (`<stage>.train`: optimizer, schedule, augmentation, epochs,
batch, subsets) and the per-profile overrides that scale it (`<stage>.full/quick/smoke`)."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from ..core.layout import seed_number, seeds_trained
from ..core.schema import PROFILES, NonNegativeFloat, PositiveInt, Profile, Section, describe
from ..core.seeds import Seeds
from ..data.augment import AugmentConfig


class OptimizerConfig(Section):
    name: Literal["sgd", "adam", "adamw"]
    lr: float = Field(gt=0)
    momentum: float = Field(0.0, ge=0, lt=1)  # SGD only
    nesterov: bool = False  # SGD only
    weight_decay: NonNegativeFloat = 0.0

    @model_validator(mode="after")
    def _sgd_only_keys(self):
        if self.name != "sgd" and (self.momentum or self.nesterov):
            raise ValueError(f"momentum/nesterov apply to sgd only, not {self.name}")
        if self.nesterov and not self.momentum:
            raise ValueError("nesterov needs momentum > 0")
        return self


class ScheduleConfig(Section):
    name: Literal["constant", "cosine", "onecycle", "step"]
    min_lr: NonNegativeFloat = 0.0  # cosine: the lr reached exactly after the last step
    pct_start: float = Field(0.25, gt=0, lt=1)  # onecycle: fraction of steps spent warming up
    # step: fractions of training (0..1) after which the lr is multiplied by gamma, e.g. [0.5, 0.75]
    milestones: list[Annotated[float, Field(gt=0, lt=1)]] = []
    gamma: float = Field(0.1, gt=0, le=1)  # step


class TrainConfig(Section):
    epochs: PositiveInt
    batch_size: PositiveInt
    optimizer: OptimizerConfig
    schedule: ScheduleConfig
    augment: AugmentConfig = AugmentConfig()
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    mixup_alpha: NonNegativeFloat = 0.0  # MixUp with lambda ~ Beta(alpha, alpha); 0 = off
    seed: int = Field(0, ge=0)
    train_subset: PositiveInt | None = None  # None: all training images
    val_subset: PositiveInt | None = None  # None: the whole validation split
    # None: the whole test set. Only the quick/smoke profiles set it (ResNet-18 evaluates at ~100
    # images/s on a 2-core CPU); every run's results.json records how many test images it was measured on.
    test_subset: PositiveInt | None = None
    # True: train on the training and validation splits together (all 50,000 CIFAR-10 training images, as
    # the published recipe does; never a test image) and validate on nothing, so the run has no validation
    # curve. For stages that select nothing on validation (Stages 4 and 5 in the full profile).
    train_on_validation: bool = False


def _deep_merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = (_deep_merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict)
                    else value)
    return out


class ProfileOverrides(Section):
    """What each profile changes in a training recipe (`train`, the published one): one block per profile,
    so a stage declares only the active profile's block (`stage1.${profile}` in dvc.yaml) and editing
    another profile's block reruns nothing. `full` is normally empty: the recipe as published."""

    full: dict[str, Any] = {}
    preview: dict[str, Any] = {}  # one GPU, minutes: every image, short schedules
    quick: dict[str, Any] = {}  # overrides of train keys, e.g. {epochs: 5, train_subset: 10000}
    smoke: dict[str, Any] = {}

    @field_validator(*PROFILES)
    @classmethod
    def _override_keys_exist(cls, value: dict[str, Any]):
        unknown = sorted(set(value) - set(TrainConfig.model_fields))
        if unknown:
            raise ValueError(f"unknown train key(s) {unknown}; valid: {sorted(TrainConfig.model_fields)}")
        return value

    def recipe(self, train: TrainConfig, profile: Profile) -> TrainConfig:
        """`train` with this profile's overrides applied."""
        overrides = getattr(self, profile)
        return TrainConfig.model_validate(_deep_merge(train.model_dump(), overrides)) if overrides else train

    def check_recipes(self, train: TrainConfig) -> None:
        for profile in PROFILES:
            try:
                self.recipe(train, profile)
            except ValidationError as exc:
                raise ValueError(f"{profile} override gives an invalid recipe: {describe(exc)}") from None


class TrainSection(ProfileOverrides):
    """A training recipe (`train`, the full published one) and its profile overrides."""

    train: TrainConfig

    @model_validator(mode="after")
    def _overrides_give_valid_recipes(self):
        self.check_recipes(self.train)
        return self

    def train_for(self, profile: Profile) -> TrainConfig:
        return self.recipe(self.train, profile)


def seeded(train: TrainConfig, seed: str) -> TrainConfig:
    """`train` with the seed of `seed` (seed_<n>, a key of a `seeds` mapping, core/seeds.py)."""
    return train.model_copy(update={"seed": seed_number(seed)})


class SeededSection(TrainSection):
    """A recipe trained once per seed: `seeds` maps each seed_<n> to the profiles that train it (core/seeds.py),
    so the seed is never set in `train` or a profile block."""

    seeds: Seeds

    @model_validator(mode="after")
    def _seed_set_once(self):
        if "seed" in self.train.model_fields_set or any("seed" in getattr(self, p) for p in PROFILES):
            raise ValueError("the seeds come from `seeds`; do not set seed in train or a profile block")
        return self

    def seeds_for(self, profile: Profile) -> list[int]:
        """The seeds trained at `profile`, ascending."""
        return seeds_trained(self.seeds, profile)

