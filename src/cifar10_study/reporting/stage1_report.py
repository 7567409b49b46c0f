"""The report's Stage 1 section: the baseline CNN (its run, per-class accuracy, parameter table) and its
experiments (the linear collapse check and the bottleneck sweep)."""
from __future__ import annotations

import pandas as pd

from ..analysis.stage1_results import PARAMETER_BUDGET, bottleneck_table, within_budget
from .formatting import TIMING_LINK, md, pct
from .study import Study
from .tables import parameter_table


def _run_row(name: str, m: dict) -> dict:
    return {
        "run": name, "params": f"{m['parameters']:,}", "FLOPs/image": f"{m['flops_per_image'] / 1e6:.1f} M",
        "epochs": m["epochs"], "train images": f"{m['train_images']:,}",
        "train acc": pct(m["final_train_accuracy"]), "val acc": pct(m["final_val_accuracy"]),
        "test acc": pct(m["test_accuracy"]),
    }


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
        lines += _collapse(base, study.experiments) + _bottleneck(study.experiments)
    return lines


def _collapse(base: dict, exp: dict) -> list[str]:
    runs, col = exp["runs"], exp["collapse"]
    avg, mx = col["linear_avgpool"], col["linear_maxpool"]
    rows = [
        ("baseline (ReLU, max-pool)", base),
        ("(a) identity activation, max-pool", runs["linear_maxpool"]),
        ("(b) identity activation, avg-pool (purely affine)", runs["linear_avgpool"]),
        ("softmax classifier on pixels", runs["softmax"]),
    ]
    table = pd.DataFrame([{"model": n, "params": f"{m['parameters']:,}", "val acc": pct(m["final_val_accuracy"]),
                           "test acc": pct(m["test_accuracy"])} for n, m in rows])
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


def _bottleneck(exp: dict) -> list[str]:
    bn = bottleneck_table(exp)
    lo, hi = bn.iloc[0], bn.loc[bn["test_accuracy"].idxmax()]
    return [
        "### Bottleneck",
        "",
        f"The width of conv stage {exp['bottleneck_stage'] + 1} swept over {', '.join(map(str, bn['width']))} "
        f"channels, everything else as the baseline:",
        "",
        md(pd.DataFrame({"width": bn["width"], "params": bn["parameters"].map("{:,}".format),
                         "val acc": bn["final_val_accuracy"].map(pct), "test acc": bn["test_accuracy"].map(pct)})),
        "",
        "![Bottleneck sweep](figures/stage1_bottleneck.png)",
        "",
        f"Squeezing the layer to {int(lo['width'])} channel(s) gives {pct(lo['test_accuracy'])} test accuracy; the "
        f"best width in the sweep is {int(hi['width'])} ({pct(hi['test_accuracy'])}).",
        "",
    ]
