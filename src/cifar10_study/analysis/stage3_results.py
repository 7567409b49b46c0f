"""Stage 3's analysis, from runs/stage3/ and runs/stage3_ablations/<name>/: the full model and each
ablation's results (metrics/stage3.json) and validation curves (plots/stage3/val_accuracy.csv); which
ablations cost accuracy, whether the optimizer decays every parameter, and which runs the convergence
comparison puts side by side."""
from __future__ import annotations

from ..components.stage3_components import STAGE3_COMPONENTS
from ..components.switches import ablations
from ..core.fileio import write_csv, write_json
from ..core.layout import STAGE1, STAGE3, run_name, variant_run
from .outputs import METRICS, PLOTS
from .run_records import history, lean, read_run, val_accuracy_by_epoch


def configurations() -> dict[str, str]:
    """Label -> run name: the full model ("stage3") first, then each ablation."""
    return {STAGE3: run_name(STAGE3), **{name: run_name(STAGE3, name) for name in ablations(STAGE3_COMPONENTS)}}


def convergence(best_variant: str, baseline: dict) -> tuple[dict[str, str], float]:
    """Label -> run of the three models whose convergence Stage 3 compares (the Stage 1 baseline, the best
    Stage 2 variant by validation accuracy, stage2_results.best_variant, and the Stage 3 residual CNN), and
    the accuracy they race to: the baseline's (its run record `baseline`) final validation accuracy."""
    return ({"Stage 1 baseline": STAGE1, f"Stage 2 best ({best_variant}, by val acc)": variant_run(best_variant),
             "Stage 3 residual CNN": run_name(STAGE3)}, baseline["final_val_accuracy"])


def ablations_that_hurt(full: dict, ablations: dict[str, dict]) -> dict[str, dict]:
    """The ablations (name -> run record) whose test accuracy is below the full model's."""
    return {name: m for name, m in ablations.items() if m["test_accuracy"] < full["test_accuracy"]}


def decays_every_parameter(kinds: dict[str, dict]) -> bool:
    """Whether the optimizer decays the batch-norm and bias parameters too (info.json "weight_decay": kind ->
    tensors, values and the decay of each parameter group), as the reference recipe decays every parameter."""
    one_d = [k for kind, k in kinds.items() if kind != "weights"]
    return bool(one_d) and all(d > 0 for k in one_d for d in k["weight_decay"])


def write_outputs() -> None:
    runs = configurations()
    write_json(METRICS / "stage3.json", {"configurations": {label: lean(read_run(run)) for label, run in runs.items()}})
    write_csv(PLOTS / STAGE3 / "val_accuracy.csv",
              val_accuracy_by_epoch({label: history(run) for label, run in runs.items()}), index=True)
