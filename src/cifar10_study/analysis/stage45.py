"""Stages 4 and 5's analysis, from runs/stage4/, runs/stage5/ and runs/stage5_ablations/<name>/ (one
folder per seed): each configuration's results over seeds (mean, std), Stage 5 against Stage 4 and the
full model against each ablation (Welch interval, McNemar), into metrics/stage4.json and
metrics/stage5.json; and the tables `dvc plots` draws (mean validation curves, test accuracies, and every
seed's Stage 4 test predictions for the confusion matrix)."""
from __future__ import annotations

import pandas as pd

from ..core.config import Params
from ..core.fileio import write_csv, write_json
from ..experiments import stage4, stage5
from .comparisons import SeededRuns, compare
from .runs import METRICS, PLOTS, predictions

SUMMARY_METRICS = ("test_accuracy", "test_loss", "final_val_accuracy", "final_train_accuracy")


def stage4_runs(params: Params) -> SeededRuns:
    return SeededRuns.load(stage4.STAGE, stage4.seeds(params))


def stage5_runs(params: Params) -> tuple[SeededRuns, dict[str, SeededRuns]]:
    """The full model and each ablation (name -> runs), on Stage 4's seeds."""
    seeds = stage4.seeds(params)
    return (SeededRuns.load(stage5.run_name(None), seeds),
            {name: SeededRuns.load(stage5.run_name(name), seeds) for name in stage5.ABLATIONS})


def comparisons(base: SeededRuns, full: SeededRuns, ablations: dict[str, SeededRuns]) -> dict[str, dict]:
    """Label -> compare(A, B): every configuration against Stage 4, then the full model against each
    ablation (A = the full model: "better" means the component the ablation removes helps)."""
    out = {"stage5 vs stage4": compare(full, base)}
    out |= {f"{name} vs stage4": compare(runs, base) for name, runs in ablations.items()}
    out |= {f"stage5 vs {name}": compare(full, runs) for name, runs in ablations.items()}
    return out


def mean_val_curves(configs: dict[str, SeededRuns]) -> pd.DataFrame:
    """Validation accuracy per epoch, mean over seeds; one column per configuration, index epoch."""
    return pd.DataFrame({label: pd.concat([h.set_index("epoch")["val_acc"] for h in runs.histories.values()],
                                          axis=1).mean(axis=1)
                         for label, runs in configs.items()}).rename_axis("epoch")


def _summary_metrics(runs: SeededRuns) -> dict:
    """Mean and std over seeds of each result (std null for one seed), and the network's size."""
    return {**{k: {"mean": runs.summary[k]["mean"], "std": runs.summary[k]["std"]} for k in SUMMARY_METRICS},
            "params": runs.summary["params"], "flops_per_image": runs.summary["flops_per_image"]}


def write_outputs(params: Params) -> None:
    base = stage4_runs(params)
    full, ablations = stage5_runs(params)
    write_json(METRICS / "stage4.json", {**_summary_metrics(base),
                                         "per_seed_test_accuracy": {str(s): a for s, a in base.accuracy.items()}})
    configs = {"stage5": full, **ablations}
    write_json(METRICS / "stage5.json", {
        "configurations": {label: _summary_metrics(runs) for label, runs in configs.items()},
        "comparisons": {label: {"difference": c["welch"]["difference"], "ci_low": c["welch"]["ci_low"],
                                "ci_high": c["welch"]["ci_high"], "welch_p": c["welch"]["p_value"],
                                "mcnemar_p": c["mcnemar"]["p_value"], "verdict": c["verdict"]}
                        for label, c in comparisons(base, full, ablations).items()}})
    everything = {"stage4": base, **configs}
    write_csv(PLOTS / "stage45" / "val_accuracy.csv", mean_val_curves(everything), index=True)
    write_csv(PLOTS / "stage45" / "test_accuracy.csv", pd.DataFrame([
        {"configuration": label, "test_accuracy": runs.summary["test_accuracy"]["mean"],
         "test_accuracy_std": runs.summary["test_accuracy"]["std"]} for label, runs in everything.items()]))
    write_csv(PLOTS / "stage4" / "predictions.csv", pd.concat(
        [predictions(f"{stage4.STAGE}/seed_{seed}").assign(seed=seed) for seed in base.accuracy], ignore_index=True))
