"""The report's Stage 4 (ResNet-18 reproduction) and Stage 5 (SE + MixUp + Cutout, with statistics)
sections, formatted from the runs' files; every sentence with a number reads it from data."""
from __future__ import annotations

import pandas as pd

from ..analysis.comparisons import SeededRuns
from ..analysis.stage45_results import PRIMARY, calibration_comparisons, comparisons, mean_val_curves
from ..analysis.stats import StatisticsConfig
from .formatting import md, mean_std, measured, pct

# The two reference points of the Stage 4 brief: the accuracy published for this recipe (ResNet-18,
# crop + flip, SGD + cosine, 200 epochs) and the reproduction's pass mark.
PUBLISHED_ACCURACY = 0.953
TARGET_ACCURACY = 0.93


def _recipe(train: dict) -> str:
    opt, sched, aug = train["optimizer"], train["schedule"], train["augment"]
    steps = {f"random crop (pad {aug['crop_padding']})": aug["crop_padding"], "horizontal flip": aug["flip"],
             f"Cutout {aug['cutout']}px": aug["cutout"], f"MixUp alpha {train['mixup_alpha']:g}": train["mixup_alpha"]}
    augment = ", ".join(name for name, on in steps.items() if on) or "none"
    momentum = f", momentum {opt['momentum']:g}" if opt["name"] == "sgd" else ""
    return (f"{opt['name'].upper()} lr {opt['lr']:g}{momentum}, weight decay {opt['weight_decay']:g}, batch "
            f"{train['batch_size']}, {sched['name']} schedule over {train['epochs']} epochs; augmentation: {augment}")


def trained_on(summary: dict) -> str:
    """Exactly which images a configuration's runs trained on, and what that leaves for validation: a
    phrase to follow "each run"."""
    counts, images = summary["provenance"]["data_counts"], summary["train_images"]
    if summary["config"]["train"]["train_on_validation"]:
        everything = counts["train"] + counts["val"]
        which = "all" if images == everything else f"the first {images:,} of the"
        return (f"trains on {which} {everything:,} training images (the training and validation splits "
                f"together, as the published recipe does; never a test image), so there is no validation curve")
    which = "all" if images == counts["train"] else f"the first {images:,} of the"
    return (f"trains on {which} {counts['train']:,} images of the training split; the "
            f"{counts['val']:,}-image validation split is held out for the curves (nothing is chosen on it)")


def _data_caveat(summary: dict) -> str:
    prov = summary["provenance"]
    caveats = []
    if prov["profile"] != "full":
        caveats.append(f"the `{prov['profile']}` profile trains {summary['epochs']} epochs on "
                       f"{summary['train_images']:,} images, not the published 200 on 50,000")
    elif not summary["config"]["train"]["train_on_validation"]:
        caveats.append(f"the runs hold out the validation split, training on {summary['train_images']:,} images, "
                       f"not the published 50,000")
    if not prov["data_official"]:
        caveats.append("the data is not the official archive (the JPEG-decoded stand-in loses detail), so even "
                       "the full recipe is not expected to match published numbers exactly")
    if summary["test_images"] < 10_000:
        caveats.append(f"test accuracy is measured on the first {summary['test_images']:,} of the test images")
    return ("Caveats: " + "; ".join(caveats) + ".") if caveats else "Full recipe on the official data."


def stage4_section(runs: SeededRuns) -> list[str]:
    s = runs.summary
    rows = []
    for seed, h in runs.histories.items():
        m = runs.per_seed[seed]
        val = "no split" if m["final_val_accuracy"] is None else pct(m["final_val_accuracy"])
        rows.append({"seed": seed, "train acc": pct(m["final_train_accuracy"]), "val acc": val,
                     "test acc": pct(m["test_accuracy"]), "test ECE": pct(m["test_ece"]),
                     "test NLL": f"{m['test_nll']:.3f}", "epoch time": measured(h["epoch_seconds"].mean(), "{:.1f} s")})
    mean = s["test_accuracy"]["mean"]
    reached = "reaches" if mean > TARGET_ACCURACY else "does not reach"
    literature = pd.DataFrame([
        {"result": f"this run ({s['provenance']['profile']} profile)", "test accuracy": mean_std(s["test_accuracy"])},
        {"result": "published, same recipe (crop + flip, 200 epochs)", "test accuracy": f"~{pct(PUBLISHED_ACCURACY)}"},
        {"result": "reproduction target", "test accuracy": f"> {pct(TARGET_ACCURACY)}"},
    ])
    per_class = _per_class(runs)
    return [
        "## Stage 4: ResNet-18 reproduction",
        "",
        f"ResNet-18, CIFAR variant (3x3 stride-1 stem, no max-pool, BasicBlocks [2, 2, 2, 2] at 64-128-256-512 "
        f"channels, global average pool, linear head): {s['parameters']:,} parameters, "
        f"{s['flops_per_image'] / 1e6:.0f} MFLOPs per image. Recipe: {_recipe(s['config']['train'])}. "
        f"One run per seed ({', '.join(map(str, s['seeds']))}); final-epoch accuracies. "
        f"Each run {trained_on(s)}. ECE is "
        f"the expected calibration error of the test predictions (15 equal-width confidence bins), NLL their mean "
        f"negative log-likelihood (nats).",
        "",
        md(pd.DataFrame(rows), numparse=False),  # keeps every figure as formatted (e.g. NLL to 3 decimals)
        "",
        md(literature),
        "",
        f"Mean test accuracy {pct(mean)} {reached} the {pct(TARGET_ACCURACY)} target and is "
        f"{100 * (PUBLISHED_ACCURACY - mean):.2f} points below the published ~{pct(PUBLISHED_ACCURACY)}. "
        + _data_caveat(s),
        "",
        "![Stage 4 curves](figures/stage4_curves.png)",
        "",
        _training_time(s) + " `tools/gpu_check.sh` measures the GPU figures (docs/gpu.md).",
        "",
        f"Per-class test accuracy (mean over seeds) ranges from {pct(per_class['test accuracy'].min())} "
        f"({per_class.loc[per_class['test accuracy'].idxmin(), 'class']}) to {pct(per_class['test accuracy'].max())} "
        f"({per_class.loc[per_class['test accuracy'].idxmax(), 'class']}):",
        "",
        md(per_class.assign(**{"test accuracy": per_class["test accuracy"].map(pct)})),
        "",
    ]


def _training_time(s: dict) -> str:
    """How long a run trained and on what, or why that is not known (runs restored from a DVC cache or
    remote carry no timing.json)."""
    how = f"torch.compile mode {s['compile']['mode']}" if s["compiled"] else "eager, not compiled"
    if s["train_seconds"] is None or s["provenance"]["hardware"] is None:
        return (f"Training time not recorded: at least one of these runs was restored from a DVC cache or remote, "
                f"which keeps no timings ({s['provenance']['device']}; {how}).")
    seconds, fast = s["train_seconds"]["mean"], (s["images_per_second"] or {}).get("mean")
    return (f"Training took {seconds:.0f} s per run ({seconds / s['epochs']:.1f} s per epoch; "
            + measured(fast, "{:,.0f} images/s after the first epoch's warm-up")
            + f"; evaluation excluded) on {s['provenance']['hardware']} ({s['provenance']['device']}; {how}).")


def _per_class(runs: SeededRuns) -> pd.DataFrame:
    """Each class's test accuracy as every run recorded it, mean over seeds."""
    # A class absent from the test images has no accuracy (None): it is left out, not counted as 0.
    mean = pd.DataFrame([m["per_class_test_accuracy"] for m in runs.per_seed.values()]).mean().dropna()
    return pd.DataFrame({"class": mean.index, "test accuracy": mean.values})


def _no_interval(c: dict) -> str | None:
    """Why a comparison has no Welch interval (None if it has one)."""
    w = c["welch"]
    if w["ci_low"] is not None:
        return None
    return "one seed each" if min(w["n_a"], w["n_b"]) < 2 else "no spread across seeds"


def _interval(c: dict) -> str:
    w = c["welch"]
    if w["ci_low"] is None:
        return f"n/a ({_no_interval(c)})"
    return f"[{100 * w['ci_low']:+.2f}, {100 * w['ci_high']:+.2f}]"


def _points(x: float | None, missing: str = "n/a") -> str:
    return missing if x is None else f"{100 * x:.2f}"


def _test_name(c: dict) -> str:
    return "Welch" if c["welch"]["p_value"] is not None else "McNemar"


def _comparison_row(label: str, c: dict, level: str) -> dict:
    m = c["mcnemar"]
    return {"comparison (A vs B)": label, "A - B (points)": f"{100 * c['welch']['difference']:+.2f}",
            f"{level} CI (points)": _interval(c), "test": _test_name(c), "p": f"{c['p_value']:.3g}",
            "Holm p": "(primary)" if label == PRIMARY else f"{c['p_adjusted']:.3g}",
            "detectable (points)": _points(c["detectable"]),
            "images only A / only B gets right": f"{m['a_only']:,} / {m['b_only']:,}", "A is": c["verdict"]}


def _level(alpha: float) -> str:
    return f"{100 * (1 - alpha):g}%"


def _detectable_phrase(c: dict) -> str:
    """What a "no significant difference" means for this design, in one clause."""
    if c["detectable"] is None:
        return "the design gives no estimate of the difference it could detect"
    scope = ("across seeds" if _test_name(c) == "Welch"
             else "between these two trained models on these test images")
    return (f"with this design only a difference of about {_points(c['detectable'])} points or more {scope} would "
            f"be found with probability {c['power']:g}")


def _calibration_sentence(label: str, c: dict, a: SeededRuns, b: SeededRuns, level: str) -> str:
    ece_a, ece_b = a.summary["test_ece"], b.summary["test_ece"]
    text = (f"- {label}: ECE {mean_std(ece_a)} against {mean_std(ece_b)}, "
            f"{100 * c['welch']['difference']:+.2f} points")
    if c["verdict"] is None:
        return text + f"; no interval ({_no_interval(c)}): ECE has no per-image test, so no verdict."
    return (text + f", {level} CI [{100 * c['welch']['ci_low']:+.2f}, {100 * c['welch']['ci_high']:+.2f}], Welch p "
            f"{c['welch']['p_value']:.3g}: " + ("**no significant difference** in calibration error"
                                                 if c["verdict"] == "no significant difference" else
                                                 f"**{c['verdict']}** calibration error than Stage 4")
            + f"; detectable across seeds: about {_points(c['detectable'])} points.")


def _primary_sentence(headline: dict, alpha: float) -> str:
    """The study's headline claim, Stage 5 against Stage 4, with the test that decided it and what it does
    and does not establish."""
    if headline["verdict"] != "better":
        claim = "the data do not support the claim that Stage 5 beats the Stage 4 reproduction"
        if headline["verdict"] == "no significant difference":
            claim += f"; {_detectable_phrase(headline)}"
    elif _no_interval(headline) is None:
        claim = f"Stage 5 beats the Stage 4 reproduction, across {headline['welch']['n_a']} seeds"
    else:
        claim = (f"Stage 5's trained models beat Stage 4's on these test images, but without a Welch interval "
                 f"({_no_interval(headline)}) seed-to-seed variation is not accounted for, so this does not "
                 f"establish that the Stage 5 recipe is better (more seeds, as in the full profile, would)")
    return (f"**Primary test**, Stage 5 against Stage 4: {100 * headline['welch']['difference']:+.2f} points, "
            f"**{headline['verdict']}** ({headline['basis']}, p {headline['p_value']:.3g} at alpha {alpha:g}): "
            f"{claim}.")


def primary_test_sentence(stage4: SeededRuns, full: SeededRuns, ablations: dict[str, SeededRuns],
                          statistics: StatisticsConfig = StatisticsConfig()) -> str:
    """The primary test's sentence, as the Stage 5 section states it (for the report's summary)."""
    return _primary_sentence(comparisons(stage4, full, ablations, statistics)[PRIMARY], statistics.alpha)


def stage5_section(stage4: SeededRuns, full: SeededRuns, ablations: dict[str, SeededRuns],
                   statistics: StatisticsConfig = StatisticsConfig()) -> list[str]:
    s = full.summary
    level = _level(statistics.alpha)
    configs = {"stage5 (all on)": full, **{f"{name} (ablation)": runs for name, runs in ablations.items()}}
    tests = comparisons(stage4, full, ablations, statistics)
    headline = tests[PRIMARY]
    # A = the full model, B = the ablation: "better" means the component that the ablation removes helps.
    component_effects = {name.removeprefix("no_"): tests[f"stage5 vs {name}"] for name in ablations}
    rows = []
    for label, runs in {"stage4 (ResNet-18)": stage4, **configs}.items():
        train, model = runs.summary["config"]["train"], runs.summary["config"]["model"]
        rows.append({"configuration": label, "SE": model["se_reduction"] is not None,
                     "MixUp": train["mixup_alpha"] > 0, "Cutout": train["augment"]["cutout"] > 0,
                     "params": f"{runs.summary['parameters']:,}",
                     "train acc": mean_std(runs.summary["final_train_accuracy"]),
                     "test acc": mean_std(runs.summary["test_accuracy"]),
                     "test ECE": mean_std(runs.summary["test_ece"]),
                     "test NLL": f"{runs.summary['test_nll']['mean']:.3f}"})
    table = [_comparison_row(label, c, level) for label, c in tests.items()]
    everything = {"stage4": stage4, "stage5": full, **ablations}
    curves = mean_val_curves(everything)
    if curves.isna().all().all():
        curves_text = (f"No validation curves: every Stage 4/5 run trained on its validation split "
                       f"(each {trained_on(s)}).")
    else:
        curves_text = "![Stages 4 and 5](figures/stage5_ablations.png)"
    lines = [
        "## Stage 5: SE-ResNet-18 + MixUp + Cutout",
        "",
        f"Stage 4's ResNet-18 and recipe with squeeze-and-excitation in every block (reduction "
        f"{_se_reduction(full)}), MixUp and Cutout; {s['parameters']:,} parameters "
        f"({s['parameters'] - stage4.summary['parameters']:+,} for SE). Recipe: {_recipe(s['config']['train'])}. Each "
        f"ablation turns one component off. Same seeds as Stage 4 ({', '.join(map(str, s['seeds']))}); "
        f"each run {trained_on(s)}.",
        "",
        md(pd.DataFrame(rows).astype(str), numparse=False),
        "",
        md(pd.DataFrame(table), numparse=False),  # keeps the signed, 2-decimal differences as written
        "",
        _primary_sentence(headline, statistics.alpha),
        "",
        f"Ablations (the other {len(tests) - 1} comparisons, one family: verdicts on Holm-adjusted p values):",
    ]
    for component, c in component_effects.items():
        if _no_interval(c) is None:  # across seeds: a statement about the component
            effect = {"better": "helps (the full model beats the ablation)",
                      "worse": "hurts (the ablation beats the full model)",
                      "no significant difference": "has no significant effect"}[c["verdict"]]
        else:  # McNemar only: a statement about these trained models, not about the component
            effect = {"better": "the full model scored higher than the ablation without it",
                      "worse": "the ablation without it scored higher than the full model",
                      "no significant difference": "no significant difference between the two models"}[c["verdict"]]
            effect += f" ({_no_interval(c)}: a difference between trained models, not yet a component effect)"
        detail = f"{100 * c['welch']['difference']:+.2f} points for the full model ({c['basis']}, Holm p " \
                 f"{c['p_adjusted']:.3g})"
        if c["verdict"] == "no significant difference":
            detail += f"; {_detectable_phrase(c)}"
        lines.append(f"- {component}: {effect}; {detail}.")
    calibration = calibration_comparisons(stage4, {"stage5": full, **ablations}, statistics)
    lines += [
        "",
        "How to read this: one significance level, alpha = "
        f"{statistics.alpha:g}, drives every interval ({level}) and test. Welch's t test compares mean test "
        "accuracy over seeds (it needs at least two seeds per configuration, with some spread); McNemar's exact "
        "test compares two configurations image by image on the same test images, pooled over matched seeds "
        "(seeds share the test images, so pooling overstates independence). A verdict rests on Welch's test when "
        "it has a variance, else on McNemar's. The primary test is Stage 5 against Stage 4, unadjusted; the "
        f"ablation comparisons are one family of {len(tests) - 1}, their p values Holm-adjusted (the Holm p "
        f"column; their intervals are not adjusted). \"Detectable\" is the smallest true difference the design "
        f"would find with probability {statistics.power:g} at alpha {statistics.alpha:g} (before the Holm "
        "adjustment, which raises it): across seeds from the observed seed spread and the number of seeds, or, "
        "with one seed, between the two trained models on these images. Training accuracy under MixUp is "
        "measured against each mixed image's dominant label.",
        "",
        curves_text,
        "",
        "### Calibration",
        "",
        "Expected calibration error (ECE, 15 equal-width confidence bins) of each configuration's test "
        "predictions against Stage 4's, with the statistics accuracy gets across seeds (MixUp is known to "
        "give better-calibrated models: Thulasidasan et al., 2019):",
        "",
        *[_calibration_sentence(label, c, everything[label.split(" vs ")[0]], stage4, level)
          for label, c in calibration.items()],
        "",
        "![Reliability diagrams](figures/stage45_reliability.png)",
        "",
    ]
    return lines


def _se_reduction(runs: SeededRuns) -> str:
    return str(runs.summary["config"]["model"]["se_reduction"] or "off")
