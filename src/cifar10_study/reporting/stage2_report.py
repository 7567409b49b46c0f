"""The report's Stage 2 sections: the width and depth variants (overfitting, optimisation stability) and
the two stress tests (vanishing gradients, parameter explosion)."""
from __future__ import annotations

import pandas as pd

from ..analysis.diagnostics import CHANCE
from ..analysis.findings import learned
from ..analysis.stage2_results import COUNTED, StressTests, grows_quadratically, never_learned
from ..core.layout import STAGE1, STAGE2_BASELINE, variant_run
from .formatting import TIMING_LINK, against_cell, md, mean_std, pct
from .study import Study


def _variants_table(variants: pd.DataFrame, study: Study) -> pd.DataFrame:
    return pd.DataFrame({
        "variant": variants["variant"], "width": "x" + variants["width"].astype(str),
        "convs/stage": variants["convs_per_stage"], "params": variants["parameters"].map("{:,}".format),
        "FLOPs/image": (variants["flops_per_image"] / 1e6).map("{:.1f} M".format),
        "train acc": variants["final_train_accuracy"].map(pct), "val acc": variants["final_val_accuracy"].map(pct),
        "test acc": [mean_std({"n": r["seeds"], "mean": r["test_accuracy"], "std": r["test_accuracy_std"]})
                     for r in variants.to_dict("records")],
        "test acc vs baseline": [against_cell(study.against(variant_run(v), STAGE1)) if v != STAGE2_BASELINE
                                 else "" for v in variants["variant"]],
        "final gap": variants["final_gap"].map(pct), "min val loss at epoch": variants["best_val_loss_epoch"],
    })


def stage2_section(study: Study) -> list[str]:
    variants = study.variants
    best = variants.loc[variants["test_accuracy"].idxmax()]
    base = variants.iloc[0]
    learned_accuracy = study.params.stage2.learned_accuracy
    stuck = variants[never_learned(variants, learned_accuracy)]
    stuck_text = (f" {', '.join(f'`{v}`' for v in stuck['variant'])} never learned with this recipe "
                  f"(validation accuracy below {pct(learned_accuracy)}), and {'is' if len(stuck) == 1 else 'are'} left "
                  f"out below." if len(stuck) else "")
    return [
        "## Stage 2: width and depth scaling",
        "",
        "Each variant is the Stage 1 baseline made wider (channels of every conv layer multiplied) or deeper "
        "(extra conv -> ReLU layers inside each stage), trained with Stage 1's recipe and budget, so the "
        "`baseline` row is the Stage 1 runs. Accuracies are means over each row's seeds, and a variant's difference "
        "from the baseline is judged against the baseline's seed-noise floor (the Stage 1 section); train "
        "accuracy is measured on the augmented batches during the epoch, and the diagnostics below are of the mean "
        "curve (overfitting) and the mean over seeds (stability).",
        "",
        md(_variants_table(variants, study), numparse=False),
        "",
        TIMING_LINK,
        "",
        f"`{best['variant']}` reaches the highest test accuracy, {pct(best['test_accuracy'])} with "
        f"{best['parameters']:,} parameters, against {pct(base['test_accuracy'])} for `{base['variant']}` "
        f"({base['parameters']:,}).{stuck_text}",
        "",
        "### Overfitting",
        "",
        "![Stage 2 overfitting](figures/stage2_overfitting.png)",
        "",
        *_learned_variants(variants.drop(stuck.index), study.params.stage2.loss_window),
    ]


def _learned_variants(learned: pd.DataFrame, window: int) -> list[str]:
    """Overfitting and stability of the variants that learned."""
    if learned.empty:
        return ["No variant learned, so there is nothing to compare.", ""]
    widest_gap = learned.loc[learned["final_gap"].idxmax()]
    noisiest = learned.loc[learned["loss_spread_median"].idxmax()]
    calmest = learned.loc[learned["loss_spread_median"].idxmin()]
    return [
        f"The largest final generalisation gap (train - validation accuracy) is `{widest_gap['variant']}`'s, "
        f"{pct(widest_gap['final_gap'])}; "
        + "; ".join(f"`{r.variant}`'s validation loss is lowest at epoch {r.best_val_loss_epoch} of "
                    f"{r.best_val_loss_epoch + r.epochs_past_best}" for r in learned.itertuples())
        + ". A minimum before the last epoch means the run had begun to overfit.",
        "",
        "### Optimisation stability",
        "",
        "![Stage 2 stability](figures/stage2_stability.png)",
        "",
        f"Over the second half of training, the median spread (std over up to {window} steps) of the "
        f"training loss is largest for `{noisiest['variant']}` ({noisiest['loss_spread_median']:.3f}) and smallest "
        f"for `{calmest['variant']}` ({calmest['loss_spread_median']:.3f}); median gradient norms range from "
        f"{learned['grad_norm_median'].min():.3f} to {learned['grad_norm_median'].max():.3f}, the largest single "
        f"step's from {learned['grad_norm_max'].min():.2f} to {learned['grad_norm_max'].max():.2f}.",
        "",
    ]


def stress_sections(stress: StressTests) -> list[str]:
    return _vanishing(stress.vanishing) + _explosion(stress.widths, stress.explosion)


def _vanishing_outcome(r: dict, learned_accuracy: float) -> str:
    if r["diverged"]:
        return f"diverged at epoch {r['diverged_epoch']}, step {r['diverged_step']} (loss {r['diverged_loss']})"
    if learned(r["final_val_accuracy"], learned_accuracy):
        return (f"learns: validation accuracy ends at {pct(r['final_val_accuracy'])}, at least "
                f"{pct(learned_accuracy)} (first reached after {r['epochs_to_learn']} epoch(s))")
    return (f"does not learn in {r['epochs']} epoch(s): validation accuracy ends at {pct(r['final_val_accuracy'])}, "
            f"below {pct(learned_accuracy)} (chance is {pct(CHANCE)})")


def _vanishing(v: dict) -> list[str]:
    rows, sentences = [], []
    for r in v["runs"].values():
        ratio = r["grad_norms"].get("0", {}).get("first_over_last")
        ratio_text = "n/a" if ratio is None else f"{ratio:.1e}"
        rows.append({"conv layers": r["depth"], "params": f"{r['parameters']:,}",
                     "grad norm layer 1 / last, at init": ratio_text,
                     "final val acc": "diverged" if r["diverged"] else pct(r["final_val_accuracy"]),
                     "test acc": "diverged" if r["diverged"] else pct(r["test_accuracy"]),
                     f"epochs to {pct(v['learned_accuracy'])} val": r.get("epochs_to_learn") or "not reached"})
        sentences.append(f"depth {r['depth']}: the gradient norm at layer 1 is {ratio_text} of the last layer's "
                         f"at initialisation; {_vanishing_outcome(r, v['learned_accuracy'])}.")
    return [
        "### Vanishing gradients",
        "",
        f"Plain CNNs (conv -> ReLU only, no batch norm, no residual connections, PyTorch's default initialisation), "
        f"trained {v['epochs']} epoch(s) on {v['train_images']:,} images:",
        "",
        md(pd.DataFrame(rows)),
        "",
        "![Gradient norms per layer](figures/stage2_grad_norms.png)",
        "",
        *(f"- {s}" for s in sentences),
        "",
    ]


def _widths_table(widths: pd.DataFrame) -> pd.DataFrame:
    cols = {"width": "x" + widths["width"].astype(str), "params": widths["parameters"].map("{:,}".format),
            "FLOPs/image": (widths["flops_per_image"] / 1e9).map("{:.2f} G".format),
            "measured": widths["measured"].map({True: "yes", False: "no"})}
    if "test_accuracy" in widths:
        cols["test acc"] = widths["test_accuracy"].map(lambda x: "" if pd.isna(x) else pct(x))
        cols["acc points per M params"] = widths["accuracy_gain_per_million_params"].map(
            lambda x: "" if pd.isna(x) else f"{x:+.2f}")
    diverged = widths["diverged"].fillna(False).astype(bool) if "diverged" in widths else pd.Series(False, widths.index)
    cols["trained"] = [("yes, diverged" if d else "yes") if r["trained"] else f"no: {r['reason']}"
                       for d, (_, r) in zip(diverged, widths.iterrows())]
    return pd.DataFrame(cols)


def _explosion(widths: pd.DataFrame, e: dict) -> list[str]:
    fits = e["fits"]
    fit_text = "; ".join(f"{name.replace('_', ' ')}: R² = {fits[name]['r2']:.4f}" for name in COUNTED if fits[name])
    x1, top = widths.iloc[0], widths.iloc[-1]
    return [
        "### Parameter explosion",
        "",
        f"The baseline with every conv layer's channels multiplied by x1 to x{top['width']}. Parameters and FLOPs "
        f"are counted for every width; time and memory are measured on this machine where a step is affordable "
        f"(the `measured` column); "
        f"a width is trained ({e['train_images']:,} images) only if its training compute (3 x forward FLOPs x "
        f"images) fits the {e['profile']} profile's budget of {e['budget_tflop']:,.1f} TFLOP, so the same widths "
        f"train on every machine.",
        "",
        md(_widths_table(widths)),
        "",
        "![Cost against width](figures/stage2_scaling.png)",
        "",
        TIMING_LINK,
        "",
        *([] if widths["trained"].any() else [
            "No width trains within this budget: at this profile the accuracy side of width is Stage 2's wider "
            "variants, trained with Stage 1's recipe and budget.", ""]),
        f"From x{x1['width']} to x{top['width']} the parameter count grows "
        f"{top['parameters'] / x1['parameters']:,.1f}-fold "
        f"and the FLOPs per image {top['flops_per_image'] / x1['flops_per_image']:,.1f}-fold for a "
        f"{top['width'] / x1['width']:.0f}-fold width: "
        + ("quadratic growth (a conv layer's weights scale with in x out channels)" if grows_quadratically(fits)
           else "not a clean quadratic") + f". Quadratic fits: {fit_text or 'too few points'}.",
        "",
    ]
