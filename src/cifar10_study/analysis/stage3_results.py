"""Stage 3's analysis, from runs/stage3/<seed>/ and runs/stage3_ablations/<name>/<seed>/: the full model's and
each ablation's results over their seeds, each ablation against the full model's seed-noise floor and the full
model against the Stage 1 baseline's (metrics/stage3.json), their mean validation curves
(plots/stage3/val_accuracy.csv); whether the optimizer decays every parameter, and which runs the convergence
comparison puts side by side."""
from __future__ import annotations

from ..components.stage3_components import STAGE3_COMPONENTS
from ..components.switches import ablations
from ..core.fileio import write_csv, write_json
from ..core.layout import STAGE1, STAGE3, run_name, seeds_trained, variant_run
from ..core.schema import Profile, View
from .comparisons import SeededRuns, SeedSettings, mean_val_curves
from .outputs import METRICS, PLOTS
from .seed_noise import Difference
from .stats import StatisticsConfig


class Stage3Seeds(View):
    seeds: dict[str, list[Profile]]  # the full model's: seed_<n> -> the profiles that train it
    ablation_seeds: dict[str, list[Profile]]  # every ablation's


class Stage3AnalysisParams(View):
    """What the stage3_analysis stage reads: which seeds trained (Stage 3's and the Stage 1 baseline's, which
    the full model is compared with), and the significance level."""

    profile: Profile
    stage1: SeedSettings
    stage3: Stage3Seeds
    statistics: StatisticsConfig = StatisticsConfig()


def configurations() -> dict[str, str]:
    """Label -> run name: the full model ("stage3") first, then each ablation."""
    return {STAGE3: run_name(STAGE3), **{name: run_name(STAGE3, name) for name in ablations(STAGE3_COMPONENTS)}}


def convergence(best_variant: str, baseline: dict) -> tuple[dict[str, str], float]:
    """Label -> run of the three models whose convergence Stage 3 compares (the Stage 1 baseline, the best
    Stage 2 variant by validation accuracy, stage2_results.best_variant, and the Stage 3 residual CNN), and
    the accuracy they race to: the baseline's (its run record `baseline`) final validation accuracy."""
    return ({"Stage 1 baseline": STAGE1, f"Stage 2 best ({best_variant}, by val acc)": variant_run(best_variant),
             "Stage 3 residual CNN": run_name(STAGE3)}, baseline["final_val_accuracy"])


def stage3_runs(params: Stage3AnalysisParams) -> dict[str, SeededRuns]:
    """Label -> runs over seeds of every configuration (configurations()), each over its seeds."""
    full = seeds_trained(params.stage3.seeds, params.profile)
    ablation = seeds_trained(params.stage3.ablation_seeds, params.profile)
    return {label: SeededRuns.load(run, full if label == STAGE3 else ablation)
            for label, run in configurations().items()}


def against_full(runs: dict[str, SeededRuns], alpha: float) -> dict[str, Difference]:
    """Each ablation against the full model, judged against the seed-noise floor."""
    return {label: Difference.of(r, runs[STAGE3], alpha) for label, r in runs.items() if label != STAGE3}


def decays_every_parameter(kinds: dict[str, dict]) -> bool:
    """Whether the optimizer decays the batch-norm and bias parameters too (info.json "weight_decay": kind ->
    tensors, values and the decay of each parameter group), as the reference recipe decays every parameter."""
    one_d = [k for kind, k in kinds.items() if kind != "weights"]
    return bool(one_d) and all(d > 0 for k in one_d for d in k["weight_decay"])


def write_outputs(params: Stage3AnalysisParams) -> None:
    runs = stage3_runs(params)
    alpha = params.statistics.alpha
    against = against_full(runs, alpha)
    baseline = SeededRuns.load(STAGE1, params.stage1.trained(params.profile))
    write_json(METRICS / "stage3.json", {
        "configurations": {label: {**r.metrics(), **({"against_full": against[label].metrics()}
                                                           if label in against else {})}
                           for label, r in runs.items()},
        "against_stage1_baseline": Difference.of(runs[STAGE3], baseline, alpha).metrics()})
    write_csv(PLOTS / STAGE3 / "val_accuracy.csv", mean_val_curves(runs), index=True)
