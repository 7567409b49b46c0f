"""The report's Stage 1 section: the baseline CNN (its run, per-class accuracy, parameter table) and its
experiments (the linear collapse check and the bottleneck sweep)."""
from __future__ import annotations

import pandas as pd

from ..analysis.stage1_results import PARAMETER_BUDGET, bottleneck_table, within_budget
from ..analysis.stats import prediction_interval
from ..core.layout import STAGE1, STAGE1_EXPERIMENTS
from .formatting import TIMING_LINK, accuracy_over_seeds, against_cell, md, pct
from .study import Study
from .tables import parameter_table


def _run_row(name: str, m: dict) -> dict:
    return {
        "run": name, "params": f"{m['parameters']:,}", "FLOPs/image": f"{m['flops_per_image'] / 1e6:.1f} M",
        "epochs": m["epochs"], "train images": f"{m['train_images']:,}",
        "train acc": pct(m["final_train_accuracy"]), "val acc": pct(m["final_val_accuracy"]),
        "test acc": accuracy_over_seeds(m),
    }


def _seed_spread(study: Study) -> list[str]:
    """The baseline's test accuracy per seed and the floor it sets for one run compared with it."""
    runs, alpha = study.seeded[STAGE1], study.params.statistics.alpha
    per_seed = ", ".join(f"seed {seed}: {pct(a)}" for seed, a in runs.accuracy.items())
    interval = prediction_interval(list(runs.accuracy.values()), confidence=1 - alpha)
    floor = ("with one seed, or seeds that agree exactly, there is no spread to judge a comparison with the baseline "
             "against" if interval is None else
             f"another seed of the baseline would land within {pct(interval['low'])} to {pct(interval['high'])} "
             f"with probability {1 - alpha:g} (±{100 * interval['half_width']:.2f} points, the prediction interval "
             f"of its {interval['n']} seeds): a one-seed configuration compared with the baseline counts as "
             f"different only outside it, and one with several seeds by Welch's t test")
    return [f"The baseline's seeds ({per_seed}) measure how far retraining alone moves a result: {floor}.", ""]


def _describe_cnn(model: dict, params: int) -> str:
    act = {"relu": "ReLU", "identity": "identity"}[model["activation"]]
    pool = {"max": "MaxPool2x2", "avg": "AvgPool2x2"}[model["pool"]]
    convs = f"[Conv3x3 -> {act}] x {model['convs_per_stage']}" if model["convs_per_stage"] > 1 else f"Conv3x3 -> {act}"
    head = f"a hidden fully connected layer of {model['hidden']} units, then " if model["hidden"] else ""
    budget = "under" if within_budget(params) else "OVER"
    return (f"{len(model['channels'])} blocks of {convs} -> {pool} with {', '.join(map(str, model['channels']))} "
            f"channels, {head}a linear classifier: {params:,} parameters ({budget} the "
            f"{PARAMETER_BUDGET / 1e6:g}M budget).")


def _parameter_count(table: pd.DataFrame) -> list[str]:
    layers = table[table["layer"] != "total"]
    top = layers.loc[layers["parameters"].idxmax()]
    convs = layers[layers["type"] == "Conv2d"]["parameters"].sum()
    return [
        "### Parameter count",
        "",
        md(table),
        "",
        f"The largest layer is `{top['layer']}` with {top['parameters']:,} parameters ({top['share_%']:.1f}% of the "
        f"total); all convolutions together hold {convs:,} ({100 * convs / table['parameters'].iloc[-1]:.1f}%).",
        "",
    ]


def stage1_section(study: Study) -> list[str]:
    base = study.baseline
    accuracies = {c: a for c, a in base["per_class_test_accuracy"].items() if a is not None}
    per_class = pd.DataFrame([{"class": c, "test accuracy": pct(a)} for c, a in accuracies.items()])
    worst = min(accuracies.items(), key=lambda kv: kv[1])
    best = max(accuracies.items(), key=lambda kv: kv[1])
    lines = [
        "## Stage 1: baseline CNN",
        "",
        _describe_cnn(base["config"]["model"], base["parameters"]),
        "",
        md(pd.DataFrame([_run_row("stage1 baseline", base)])),
        "",
        *_seed_spread(study),
        TIMING_LINK,
        "",
        "![Stage 1 curves](figures/stage1_curves.png)",
        "",
        f"Per-class test accuracy ranges from {pct(worst[1])} ({worst[0]}) to {pct(best[1])} ({best[0]}):",
        "",
        md(per_class),
        "",
        "![Stage 1 confusion matrix](figures/stage1_confusion_matrix.png)",
        "",
        *_parameter_count(parameter_table(base["layers"])),
    ]
    if study.experiments is not None:
        against = {name: study.against(f"{STAGE1_EXPERIMENTS}/{name}", STAGE1) for name in study.experiments["runs"]}
        lines += _collapse(base, study.experiments, against) + _bottleneck(study.experiments, against)
    return lines


def _collapse(base: dict, exp: dict, against: dict) -> list[str]:
    runs, col = exp["runs"], exp["collapse"]
    avg, mx = col["linear_avgpool"], col["linear_maxpool"]
    rows = [
        ("baseline (ReLU, max-pool)", base),
        ("(a) identity activation, max-pool", runs["linear_maxpool"]),
        ("(b) identity activation, avg-pool (purely affine)", runs["linear_avgpool"]),
        ("softmax classifier on pixels", runs["softmax"]),
    ]
    table = pd.DataFrame([{"model": n, "params": f"{m['parameters']:,}", "val acc": pct(m["final_val_accuracy"]),
                           "test acc": accuracy_over_seeds(m), "test acc vs baseline": against_cell(against.get(k))}
                          for (n, m), k in zip(rows, (None, "linear_maxpool", "linear_avgpool", "softmax"))])
    verdict = "equals" if avg["is_affine"] else "does NOT equal"
    agreement = ("the same as the network" if avg["affine_accuracy"] == avg["network_accuracy"]
                 else f"against {pct(avg['network_accuracy'])} for the network")
    return [
        "### Linear collapse",
        "",
        md(table),
        "",
        f"Network (b) {verdict} a single affine map W·x + b: with W and b read off the trained network "
        f"(b = f(0), column i of W = f(e_i) - f(0)), its float32 logits on {avg['images']:,} test images differ "
        f"from W·x + b by at most {avg['max_abs_diff_float32']:.2e} ({avg['max_rel_diff_float32']:.1e} of the "
        f"largest logit, {avg['max_abs_diff_float64']:.1e} in float64), and W·x + b classifies "
        f"{pct(avg['affine_accuracy'])} of them correctly, {agreement}. "
        f"Network (a) keeps max-pooling, which is not linear: the same construction misses its logits by up to "
        f"{mx['max_rel_diff_float32']:.2f} of the logit scale.",
        "",
        f"So (b) can represent nothing a linear classifier cannot. It reaches "
        f"{pct(runs['linear_avgpool']['test_accuracy'])} test accuracy against "
        f"{pct(runs['softmax']['test_accuracy'])} for the plain softmax classifier trained with the same recipe; "
        f"a difference between the two comes from how the factorised parametrisation trains, not from "
        f"expressive power. The baseline with ReLU reaches {pct(base['test_accuracy'])}.",
        "",
    ]


def _bottleneck(exp: dict, against: dict) -> list[str]:
    bn = bottleneck_table(exp)
    lo, hi = bn.iloc[0], bn.loc[bn["test_accuracy"].idxmax()]
    return [
        "### Bottleneck",
        "",
        f"The width of conv stage {exp['bottleneck_stage'] + 1} swept over {', '.join(map(str, bn['width']))} "
        f"channels, everything else as the baseline:",
        "",
        md(pd.DataFrame({"width": bn["width"], "params": bn["parameters"].map("{:,}".format),
                         "val acc": bn["final_val_accuracy"].map(pct),
                         "test acc": [accuracy_over_seeds(exp["runs"][f"bottleneck_{w}"]) for w in bn["width"]],
                         "test acc vs baseline": [against_cell(against[f"bottleneck_{w}"]) for w in bn["width"]]})),
        "",
        "![Bottleneck sweep](figures/stage1_bottleneck.png)",
        "",
        f"Squeezing the layer to {int(lo['width'])} channel(s) gives {pct(lo['test_accuracy'])} test accuracy; the "
        f"best width in the sweep is {int(hi['width'])} ({pct(hi['test_accuracy'])}).",
        "",
    ]
