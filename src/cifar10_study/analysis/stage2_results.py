"""Stage 2's analysis, from runs/stage2/<variant>/<seed>/ (and runs/stage1/<seed>/, the variants' baseline),
runs/stage2_vanishing/ and runs/stage2_explosion/: the variants' results over their seeds, each against the
baseline's seed-noise floor, their overfitting and stability diagnostics, what happened at each depth of the
vanishing-gradient test, and how cost grows with width (least-squares fits).

`write_outputs` writes what git tracks: metrics/stage2.json, metrics/stage2_vanishing.json and
metrics/stage2_explosion.json (deterministic results only: no timings, which runs/stage2_explosion/timing.json
holds apart), and the tables under plots/, their measured columns (time, memory, images/s) apart in each
folder's timing.csv (measurements.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import pandas as pd

from ..core.fileio import read_json, write_csv, write_json
from ..core.layout import (
    EXPERIMENT_RECORD,
    EXPLOSION,
    RUNS,
    STAGE2,
    STAGE2_BASELINE,
    VANISHING,
    seed_run,
    seeds_trained,
    variant_run,
)
from ..core.schema import Profile, View
from .comparisons import SeededRuns, SeedSettings, mean_val_curves
from .diagnostics import overfitting_summary, quadratic_fit, stability_summary
from .findings import learned
from .measurements import write_apart
from .outputs import METRICS, PLOTS
from .run_records import history, read_run, steps
from .seed_noise import Difference
from .stats import StatisticsConfig

VARIANT_METRICS = ("best_val_loss_epoch", "final_gap", "loss_spread_median", "grad_norm_median")
# What the explosion test counts for every width, the same on every machine (it measures time and memory too).
COUNTED = ("parameters", "flops_per_image")
# Cost "grows quadratically" with width when a quadratic fits both parameters and FLOPs at least this well.
QUADRATIC_R2 = 0.99


# --- what the analysis reads of params.yaml (check_params has validated all of it) --------------------------

class VariantShape(View):
    """A scaling variant as the tables describe it; defaults as experiments/stage2.py's ScalingVariant
    (tests/unit/test_config.py checks that they agree)."""

    width: int = 1
    convs_per_stage: int | None = None  # None: the baseline's


class VariantSettings(View):
    seeds: dict[str, list[Profile]]  # the variants' seeds: seed_<n> -> the profiles that train it
    variants: dict[str, VariantShape]  # params.yaml order
    loss_window: int  # steps per window of the loss-spread (stability) diagnostic
    # Validation accuracy that counts as learning: a run that stays below it says nothing about overfitting or
    # optimisation noise, and the vanishing-gradient test's depths are judged by it.
    learned_accuracy: float = 0.2  # as experiments/stage2.py's Stage2Config (tests/unit/test_config.py)


class Stage2AnalysisParams(View):
    """What the stage2_analysis stage reads (the seeds trained, stage2.variants, stage2.loss_window,
    stage2.learned_accuracy, the significance level)."""

    profile: Profile
    stage1: SeedSettings  # the baseline's seeds
    stage2: VariantSettings
    statistics: StatisticsConfig = StatisticsConfig()

    def variant_seeds(self, variant: str) -> list[int]:
        """The seeds of a variant (the baseline's are the Stage 1 runs') trained at the active profile."""
        if variant == STAGE2_BASELINE:
            return self.stage1.trained(self.profile)
        return seeds_trained(self.stage2.seeds, self.profile)


# --- scaling variants ---------------------------------------------------------------------------------------

def compared_variants(settings: VariantSettings) -> dict[str, VariantShape]:
    """The baseline (the Stage 1 run, which every variant's recipe and budget match), then stage2.variants
    in params.yaml order. A shape's convs_per_stage is None where it is the baseline's; variants_table gives
    every row's depth as its run's model has it."""
    return {STAGE2_BASELINE: VariantShape(), **settings.variants}


@dataclass(frozen=True)
class VariantRuns:
    """The baseline's and every scaling variant's files, each read once, in compared_variants() order: variant
    name -> its runs over seeds, each seed's steps, its mean record and mean history (with epoch seconds)."""

    seeded: dict[str, SeededRuns]
    steps: dict[str, dict[int, pd.DataFrame]]
    records: dict[str, dict]
    histories: dict[str, pd.DataFrame]

    @classmethod
    def load(cls, params: Stage2AnalysisParams) -> "VariantRuns":
        seeded = {v: SeededRuns.load(variant_run(v), params.variant_seeds(v)) for v in compared_variants(params.stage2)}
        seed_steps = {v: {seed: steps(seed_run(r.name, seed)) for seed in r.seeds} for v, r in seeded.items()}
        return cls(seeded, seed_steps, {v: r.mean_record() for v, r in seeded.items()},
                   {v: r.mean_history() for v, r in seeded.items()})

    def against_baseline(self, alpha: float) -> dict[str, Difference]:
        """Every scaled variant against the baseline, judged against the seed-noise floor."""
        base = self.seeded[STAGE2_BASELINE]
        return {v: Difference.of(r, base, alpha) for v, r in self.seeded.items() if v != STAGE2_BASELINE}


def variants_table(settings: VariantSettings, runs: VariantRuns) -> pd.DataFrame:
    """One row per variant, the baseline first: its results (means over its seeds, with the seeds and the test
    accuracy's spread), timing, the overfitting diagnostic of its mean curve and the stability diagnostic (the
    mean over its seeds)."""
    rows = []
    for name, variant in compared_variants(settings).items():
        run, h = runs.records[name], runs.histories[name]
        stability = pd.DataFrame([stability_summary(st, settings.loss_window) for st in runs.steps[name].values()])
        rows.append({
            # Depth as the run's model has it, so the baseline's is stage1.model's and a variant's is never None.
            "variant": name, "width": variant.width, "convs_per_stage": run["config"]["model"]["convs_per_stage"],
            "seeds": len(run["seeds"]),
            **{k: run[k] for k in ("parameters", "flops_per_image", "final_train_accuracy", "final_val_accuracy",
                                   "test_accuracy", "test_accuracy_std", "test_loss", "images_per_second",
                                   "peak_memory_bytes", "peak_memory_kind")},
            "mean_epoch_seconds": float(h["epoch_seconds"].mean()),
            **overfitting_summary(h), **stability.mean().to_dict(),
        })
    return pd.DataFrame(rows)


def wider_variants(variants: pd.DataFrame) -> list[str]:
    """The variants that only widen the baseline: more channels, its depth."""
    scaled = scaled_variants(variants)
    return scaled.loc[(scaled["width"] > 1) & (scaled["convs_per_stage"] == _baseline_depth(variants)),
                      "variant"].tolist()


def deeper_variants(variants: pd.DataFrame) -> list[str]:
    """The variants that only deepen the baseline: more conv layers per stage, its width."""
    scaled = scaled_variants(variants)
    return scaled.loc[(scaled["width"] == 1) & (scaled["convs_per_stage"] > _baseline_depth(variants)),
                      "variant"].tolist()


def _baseline_depth(variants: pd.DataFrame) -> int:
    """The baseline row's conv layers per stage (stage1.model's)."""
    return variants.loc[variants["variant"] == STAGE2_BASELINE, "convs_per_stage"].item()


def scaled_variants(variants: pd.DataFrame) -> pd.DataFrame:
    """The rows of the wider and deeper variants: the table without its baseline row (the Stage 1 run)."""
    return variants[variants["variant"] != STAGE2_BASELINE]


def best_variant(variants: pd.DataFrame) -> str:
    """The scaled variant with the best final validation accuracy (chosen on validation, never on test); the
    baseline is not a candidate, as it is the Stage 1 run."""
    scaled = scaled_variants(variants)
    return scaled.loc[scaled["final_val_accuracy"].idxmax(), "variant"]


def never_learned(variants: pd.DataFrame, learned_accuracy: float) -> pd.Series:
    """Per variant (row), whether it did not learn (findings.learned: the rule the vanishing test's depths are
    judged by too)."""
    return ~variants["final_val_accuracy"].map(lambda accuracy: learned(accuracy, learned_accuracy)).astype(bool)


# --- vanishing gradients ------------------------------------------------------------------------------------

def grad_norms() -> pd.DataFrame:
    """Every recorded gradient norm: step, layer (1 = input side), name, grad_norm, depth."""
    return pd.read_csv(RUNS / VANISHING / "grad_norms.csv")


def _grad_summary(grads: pd.DataFrame) -> dict:
    """Per recorded step: gradient norm of the first and last weight layer and their ratio."""
    out = {}
    for step, g in grads.groupby("step"):
        first, last = float(g["grad_norm"].iloc[0]), float(g["grad_norm"].iloc[-1])
        out[str(step)] = {"first_layer": first, "last_layer": last, "first_over_last": first / last if last else None}
    return out


def vanishing(learned_accuracy: float, grads: pd.DataFrame) -> dict:
    """The stage's record, each depth completed with its results (or its divergence), the epoch its
    validation accuracy first reached `learned_accuracy`, and its gradient-norm summary per step (from
    `grads`, grad_norms())."""
    record = read_json(RUNS / VANISHING / EXPERIMENT_RECORD)
    runs = {}
    for name, depth in record["depths"].items():
        run = {**depth, "grad_norms": _grad_summary(grads[grads["depth"] == depth["depth"]])}
        if not depth["diverged"]:
            result, val = read_run(f"{VANISHING}/{name}"), history(f"{VANISHING}/{name}")["val_acc"].tolist()
            learned = [i + 1 for i, acc in enumerate(val) if acc >= learned_accuracy]
            run.update(test_accuracy=result["test_accuracy"], final_val_accuracy=val[-1], val_accuracy_per_epoch=val,
                       epochs_to_learn=learned[0] if learned else None, epochs=len(val))
        runs[name] = run
    return {**record, "learned_accuracy": learned_accuracy, "runs": runs}


# --- parameter explosion ------------------------------------------------------------------------------------

def explosion() -> tuple[pd.DataFrame, dict]:
    """The widths table (one row per width, narrowest first, with test-accuracy points gained per million
    extra parameters where trained) and the stage's record with quadratic fits of cost against width."""
    widths = pd.read_csv(RUNS / EXPLOSION / "widths.csv").sort_values("width", ignore_index=True)
    timing = RUNS / EXPLOSION / "timing.json"  # absent where the stage was restored from a DVC cache
    if timing.is_file():
        widths = widths.merge(pd.DataFrame(read_json(timing)["widths"]), on="width", how="left")
    _accuracy_per_parameter(widths)
    measured = widths[widths["measured"]]
    fits = {column: quadratic_fit(widths["width"], widths[column]) for column in COUNTED}
    if "seconds_per_step" in widths:
        fits["seconds_per_step"] = quadratic_fit(measured["width"], measured["seconds_per_step"])
        fits["peak_memory_bytes"] = quadratic_fit(measured["width"], measured["peak_memory_bytes"].astype(float))
    return widths, {**read_json(RUNS / EXPLOSION / EXPERIMENT_RECORD), "fits": fits}


def grows_quadratically(fits: Mapping[str, dict | None]) -> bool:
    """Whether quadratic fits (explosion()'s) explain both the parameter count and the FLOPs per image."""
    return all(fits[column] and fits[column]["r2"] > QUADRATIC_R2 for column in COUNTED)


@dataclass(frozen=True)
class StressTests:
    """Both stress tests' files, each read once: vanishing(), the gradient norms it summarises, and
    explosion()'s widths table and record."""

    vanishing: dict
    grad_norms: pd.DataFrame
    widths: pd.DataFrame
    explosion: dict

    @classmethod
    def load(cls, learned_accuracy: float) -> "StressTests":
        grads = grad_norms()
        return cls(vanishing(learned_accuracy, grads), grads, *explosion())


def _accuracy_per_parameter(table: pd.DataFrame) -> None:
    """Test-accuracy points gained per million extra parameters, against the narrowest trained width."""
    table["accuracy_gain_per_million_params"] = float("nan")
    if "test_accuracy" not in table:
        return
    trained = table[table["test_accuracy"].notna()]
    if trained.empty:
        return
    ref = trained.iloc[0]
    extra = (trained["parameters"] - ref["parameters"]) / 1e6
    gain = 100 * (trained["test_accuracy"] - ref["test_accuracy"]) / extra.where(extra > 0)
    table.loc[trained.index, "accuracy_gain_per_million_params"] = gain


# --- outputs ------------------------------------------------------------------------------------------------

def write_outputs(params: Stage2AnalysisParams) -> None:
    runs = VariantRuns.load(params)
    variants = variants_table(params.stage2, runs)
    rows = {row["variant"]: row for row in variants.to_dict("records")}
    against = runs.against_baseline(params.statistics.alpha)
    write_json(METRICS / "stage2.json", {"variants": {
        name: {**r.metrics(), **{k: rows[name][k] for k in VARIANT_METRICS},
               **({"against_baseline": against[name].metrics()} if name in against else {})}
        for name, r in runs.seeded.items()}})
    write_apart(PLOTS / STAGE2 / "variants.csv", variants, key="variant")
    write_csv(PLOTS / STAGE2 / "val_accuracy.csv", mean_val_curves(runs.seeded), index=True)

    stress = StressTests.load(params.stage2.learned_accuracy)
    write_json(METRICS / "stage2_vanishing.json", {"depths": {name: {
        "diverged": r["diverged"], "test_accuracy": r.get("test_accuracy"),
        "final_val_accuracy": r.get("final_val_accuracy"), "epochs_to_learn": r.get("epochs_to_learn"),
        "grad_first_over_last_at_init": r["grad_norms"].get("0", {}).get("first_over_last")}
        for name, r in stress.vanishing["runs"].items()}})
    write_csv(PLOTS / VANISHING / "grad_norms.csv", stress.grad_norms)

    write_json(METRICS / "stage2_explosion.json", {
        "widths": {f"x{r['width']}": {"parameters": r["parameters"], "flops_per_image": r["flops_per_image"]}
                   for r in stress.widths.to_dict("records")},
        "fits": {k: stress.explosion["fits"][k] for k in COUNTED}})
    write_apart(PLOTS / EXPLOSION / "widths.csv", stress.widths, key="width")
