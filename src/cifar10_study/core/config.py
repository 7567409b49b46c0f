"""params.yaml -> validated, typed, immutable config, before any work starts.

Every problem becomes one line naming the key, e.g.
    params.yaml: stage1.train.optimizer.lr: must be greater than 0 (got -0.1)
params.yaml is read with ruamel.yaml (YAML 1.2, the parser DVC uses), so a value such as `1e-3`, or
one written by `dvc exp run -S`, means the same number to DVC and to this code.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from .errors import ConfigError
from ..data import IMAGE_SIZE
from ..models.baseline import BaselineCNNConfig
from .schema import NonNegativeFloat, PositiveInt, Section

PROFILES = ("full", "quick", "smoke")
Profile = Literal["full", "quick", "smoke"]


class DataConfig(Section):
    # None: download the official archive and verify its md5. Otherwise a local cifar-10-python.tar.gz
    # or its extracted folder, in the official layout (relative paths are relative to the repo root).
    source: str | None = None
    val_size: PositiveInt = 5000  # images held out of the 50k training set, stratified by class
    split_seed: int = Field(0, ge=0)
    # Images in each of the six batch files, checked when reading (10,000 in CIFAR-10; only the tests,
    # with their tiny archives, change it). A multiple of ten: the test batch holds each class equally.
    batch_images: PositiveInt = Field(10_000, multiple_of=10)


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


class AugmentConfig(Section):
    crop_padding: int = Field(4, ge=0, le=16)  # random crop of 32x32 from the zero-padded image
    flip: bool = True  # random horizontal flip with probability 1/2
    cutout: int = Field(0, ge=0, le=IMAGE_SIZE)  # side of the Cutout square, px; 0 = off


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


# torch.compile modes for the training forward pass ("off": eager). "reduce-overhead" and "max-autotune"
# also replay the compiled forward and backward as CUDA graphs (one launch instead of hundreds per step).
CompileMode = Literal["off", "default", "reduce-overhead", "max-autotune-no-cudagraphs", "max-autotune"]


class RuntimeConfig(Section):
    """How to run, not what to compute: settings that change speed, never a CPU result. No DVC stage
    declares them, so changing one reruns nothing; every run records them in its info.json."""

    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: CUDA when present, else CPU
    # CUDA only; on CPU training is always eager (recorded as not compiled). reduce-overhead: ResNet-18
    # trained 2.4x faster than eager on an H200, while the default mode was slower than eager there
    # (benchmarks/results/, README "Running on a GPU").
    compile: CompileMode = "reduce-overhead"
    eval_batch_size: PositiveInt = 1000  # images per evaluation forward pass
    # Resume checkpoints: at most one per this many seconds of training, plus the last epoch; 0 = every epoch.
    checkpoint_interval_seconds: NonNegativeFloat = 60.0
    # Processes that train one run together (torchrun + DistributedDataParallel; the recipe's batch is
    # split between them). 1: a plain process. On CUDA, one GPU each.
    processes: PositiveInt = 1
    sync_batchnorm: bool = False  # CUDA with processes > 1: batch-norm statistics over all processes' batches
    # CUDA: raise at any host synchronisation inside an epoch's training steps (after a compiled run's
    # first, warm-up epoch). A debugging aid the CUDA tests use; off costs nothing.
    check_syncs: bool = False


def _deep_merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = _deep_merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


class ProfileOverrides(Section):
    """What each profile changes in a training recipe (`train`, the published one): one block per profile,
    so a stage declares only the active profile's block (`stage1.${profile}` in dvc.yaml) and editing
    another profile's block reruns nothing. `full` is normally empty: the recipe as published."""

    full: dict[str, Any] = {}
    quick: dict[str, Any] = {}  # overrides of train keys, e.g. {epochs: 5, train_subset: 10000}
    smoke: dict[str, Any] = {}

    @field_validator("full", "quick", "smoke")
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
                raise ValueError(f"{profile} override gives an invalid recipe: {_describe(exc)}") from None


class TrainSection(ProfileOverrides):
    """A training recipe (`train`, the full published one) and its profile overrides."""

    train: TrainConfig

    @model_validator(mode="after")
    def _overrides_give_valid_recipes(self):
        self.check_recipes(self.train)
        return self

    def train_for(self, profile: Profile) -> TrainConfig:
        return self.recipe(self.train, profile)


class Stage1Config(TrainSection):
    model: BaselineCNNConfig


class Stage1ExperimentsConfig(Section):
    bottleneck_stage: int = Field(ge=0)  # index into stage1.model.channels of the layer to squeeze
    bottleneck_widths: list[PositiveInt] = Field(min_length=1)


class ScalingVariant(Section):
    width: PositiveInt = 1  # multiplies the channels of every conv layer of the Stage 1 baseline
    convs_per_stage: PositiveInt = 1  # conv -> ReLU layers per stage (no extra pooling); the baseline has 1


class Stage2Config(ProfileOverrides):
    """Scaling variants, trained with Stage 1's recipe (`stage1.train`) and these profile overrides."""

    variants: dict[Annotated[str, Field(pattern=r"^[a-z0-9_]+$")], ScalingVariant] = Field(min_length=1)
    loss_window: int = Field(20, ge=2)  # steps per window of the loss-spread (stability) diagnostic


class VanishingConfig(TrainSection):
    """Plain deep CNNs (no BN, no residuals): depth/len(channels) conv -> ReLU layers per stage."""

    channels: list[PositiveInt] = Field(min_length=1, max_length=5)
    depths: list[PositiveInt] = Field(min_length=1)
    grad_steps: list[Annotated[int, Field(ge=0)]] = Field(min_length=1)  # 0 = at initialisation
    learned_accuracy: float = Field(0.2, gt=0.1, lt=1)  # val accuracy that counts as learning (chance 0.1)

    @model_validator(mode="after")
    def _depths_split_evenly(self):
        bad = [d for d in self.depths if d % len(self.channels)]
        if bad:
            raise ValueError(f"depths {bad} must be multiples of len(channels) = {len(self.channels)}")
        return self


class ProfileBudget(Section):
    full: float = Field(gt=0)
    quick: float = Field(gt=0)
    smoke: float = Field(gt=0)


class ExplosionConfig(TrainSection):
    """Width multipliers of the Stage 1 baseline, up to sizes this machine cannot train."""

    widths: list[PositiveInt] = Field(min_length=1)
    measure_batch_size: PositiveInt = 32  # batch for the time / memory per step measurement
    measure_max_gflops: float = Field(200.0, gt=0)  # a step costing more is not run: analytic figures only
    train_budget_seconds: ProfileBudget  # a width is trained only if its estimated training time fits


class Stage3ModelConfig(Section):
    """The residual CNN's shape; its component switches are the flat stage3 keys."""

    channels: list[PositiveInt] = Field(min_length=1, max_length=5)
    blocks_per_stage: PositiveInt = 1


class Stage3Config(TrainSection):
    """The five components under test, one key each, so an ablation can depend on all but its own."""

    residual: bool
    batchnorm: bool
    dropout: float = Field(ge=0, lt=1)
    label_smoothing: float = Field(ge=0, lt=1)
    weight_decay: NonNegativeFloat
    model: Stage3ModelConfig

    @model_validator(mode="after")
    def _switches_set_once(self):
        # label smoothing and weight decay are switches here: a second value in `train` would be ambiguous.
        if "label_smoothing" in self.train.model_fields_set or "weight_decay" in self.train.optimizer.model_fields_set:
            raise ValueError("set label_smoothing and weight_decay with the stage3 switches, not in stage3.train")
        for profile in PROFILES:
            overrides = getattr(self, profile)
            if "label_smoothing" in overrides or "weight_decay" in overrides.get("optimizer", {}):
                raise ValueError(f"stage3.{profile} must not override the label_smoothing / weight_decay switches")
        return self


SeedName = Annotated[str, Field(pattern=r"^seed_[0-9]+$")]


class Stage4Config(TrainSection):
    """ResNet-18 (CIFAR variant, fixed architecture) trained with the published recipe, once per seed.

    `seeds` maps each seed (`seed_<n>`) to the profiles that train it. Every seed is its own DVC stage
    (stage4@seed_<n>, stage5@seed_<n>, ...): DVC cannot expand a list picked by ${profile}, so the stages
    exist for every seed, and a seed whose list lacks the active profile is skipped in a second. A seed
    stage declares only its own entry, so adding a seed to a profile retrains nothing else.
    """

    seeds: dict[SeedName, Annotated[list[Profile], Field(min_length=1)]] = Field(min_length=1)

    @model_validator(mode="after")
    def _seeds_cover_every_profile(self):
        for name, profiles in self.seeds.items():
            if len(set(profiles)) != len(profiles):
                raise ValueError(f"seeds.{name}: each profile once, got {profiles}")
        missing = [p for p in PROFILES if not self.seeds_for(p)]
        if missing:
            raise ValueError(f"seeds: no seed trains at the {', '.join(missing)} profile; list it under a seed")
        return self

    @model_validator(mode="after")
    def _seed_set_once(self):
        if "seed" in self.train.model_fields_set or any("seed" in getattr(self, p) for p in PROFILES):
            raise ValueError("the seeds come from stage4.seeds; do not set seed in stage4.train/full/quick/smoke")
        return self

    def seeds_for(self, profile: Profile) -> list[int]:
        """The seeds trained at `profile`, ascending."""
        return sorted(seed_number(name) for name, profiles in self.seeds.items() if profile in profiles)


def seed_number(name: str) -> int:
    """seed_<n> -> n."""
    return int(name.removeprefix("seed_"))


class Stage5Config(Section):
    """Stage 4's ResNet-18 and recipe plus three components, one boolean switch each (their settings are
    sibling keys), so an ablation can depend on everything but its own switch."""

    se: bool
    se_reduction: PositiveInt = 16  # channels / reduction hidden units in each SE module
    mixup: bool
    mixup_alpha: float = Field(1.0, gt=0)  # lambda ~ Beta(alpha, alpha)
    cutout: bool
    cutout_size: int = Field(16, ge=1, le=IMAGE_SIZE)  # side of the square, px


class StatisticsConfig(Section):
    """How the Stage 4/5 comparisons are tested (analysis and report only: no training stage reads it)."""

    alpha: float = Field(0.05, gt=0, lt=1)  # every test's significance level; intervals are at 1 - alpha
    power: float = Field(0.8, gt=0, lt=1)  # the power at which each comparison's detectable difference is given


class Params(Section):
    profile: Profile
    data: DataConfig
    runtime: RuntimeConfig = RuntimeConfig()
    stage1: Stage1Config
    stage1_experiments: Stage1ExperimentsConfig
    stage2: Stage2Config
    stage2_vanishing: VanishingConfig
    stage2_explosion: ExplosionConfig
    stage3: Stage3Config
    stage4: Stage4Config
    stage5: Stage5Config
    statistics: StatisticsConfig = StatisticsConfig()

    @model_validator(mode="after")
    def _stage2_recipes_valid(self):
        try:
            self.stage2.check_recipes(self.stage1.train)
        except ValueError as exc:
            raise ValueError(f"stage2: {exc}") from None
        return self

    def stage2_recipe(self) -> TrainConfig:
        """Stage 1's recipe with Stage 2's profile overrides: every variant trains with it."""
        return self.stage2.recipe(self.stage1.train, self.profile)

    @model_validator(mode="after")
    def _bottleneck_stage_exists(self):
        n = len(self.stage1.model.channels)
        if self.stage1_experiments.bottleneck_stage >= n:
            raise ValueError(
                f"stage1_experiments.bottleneck_stage must index stage1.model.channels (0..{n - 1}), "
                f"got {self.stage1_experiments.bottleneck_stage}"
            )
        return self


def _describe(exc: ValidationError) -> str:
    """One line for the first error: dotted key path, the problem, and the offending value."""
    errors = exc.errors()
    err = errors[0]
    loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-after"))
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key (misspelt, or not read by any stage)"
    elif err["type"] == "missing":
        msg = "required key is missing"
    elif "input" in err and err["type"] not in ("model_type", "dict_type"):
        msg += f" (got {err['input']!r})"
    more = f" [and {len(errors) - 1} more problem(s)]" if len(errors) > 1 else ""
    return (f"{loc}: {msg}" if loc else msg) + more


def parse_params(raw: Any, source: str = "params.yaml") -> Params:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of sections at the top level, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(exc)}") from None


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate params.yaml; any problem is a ConfigError with a one-line message."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: not found; run from the repository root, where params.yaml lives")
    try:
        raw = YAML(typ="safe", pure=True).load(path.read_text())
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    return parse_params(raw, str(path))
