"""The findings of Stages 1-3: what the literature shows, each as a rule over this study's results that
says whether these runs show it too, with the numbers behind the answer and the reference.

Each function is pure (numbers and per-image correctness in, a Finding out) and every threshold is named
here, once. A finding the runs do not show is reported as not shown, with its numbers: a short budget, a
small subset or the stand-in data can hide what a full recipe shows, and the report says so rather than
claiming it. A comparison of two configurations claims an effect only beyond the seed-noise floor
(seed_noise.Difference: what retraining the reference with other seeds gives); McNemar's test on the test
images is shown beside it, as test-image sampling only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from .seed_noise import Difference

# Stage 1: what a small Conv-ReLU-MaxPool CNN reaches in a few epochs (TensorFlow's CNN tutorial passes 70%
# in 10 epochs; Keras' cifar10_cnn reaches 75% in 25).
BASELINE_TARGET = 0.70
# Linear collapse: with no non-linearity the network is one affine map of the pixels, so it can do no
# better than a softmax classifier on them (about 38-40% for a softmax or linear SVM, CS231n).
AFFINE_WITHIN_SOFTMAX = 0.05  # the affine network within 5 points of the softmax classifier
AFFINE_BELOW_BASELINE = 0.25  # and at least 25 points below the ReLU baseline
# Bottleneck: the narrowest squeeze well below the baseline (10 points or more).
BOTTLENECK_BELOW_BASELINE = 0.10

# Accuracies are counts of images over the test (or validation) images, and a difference of two lands a float's
# rounding away from the count it stands for (0.7474 - 0.6474 is 0.09999999999999998): a threshold compares
# values rounded to DECIMALS, far finer than one image of any data set (1e-9) and far coarser than that error.
DECIMALS = 9


def reaches(value: float, threshold: float) -> bool:
    """`value` >= `threshold`, counted in whole images: a threshold met exactly is met."""
    return round(value - threshold, DECIMALS) >= 0


REFERENCES = {
    "baseline": "TensorFlow's CNN tutorial (a three-conv CNN passes 70% in 10 epochs); Keras' cifar10_cnn "
                "(75% in 25 epochs)",
    "collapse": "CS231n: a softmax or linear SVM on raw pixels reaches about 38-40%",
    "bottleneck": "a layer's width bounds what the layers after it can use (the data-processing inequality)",
    "scaling": "Zagoruyko & Komodakis 2016 (wider helps at equal depth); He et al. 2016, Fig. 6 (plain "
               "networks train worse as they deepen)",
    "vanishing": "Glorot & Bengio 2010; He et al. 2015 (without a suited initialisation, gradients shrink "
                 "layer by layer toward the input of a deep plain network)",
    "stage3": "He et al. 2016, Fig. 6 (ResNet-20 beats its plain twin; 91.25% at the full recipe); Ioffe & "
              "Szegedy 2015 (batch norm)",
}


@dataclass(frozen=True)
class Finding:
    stage: str
    claim: str  # what the literature shows, as this study tests it
    shown: bool  # whether these runs show it
    evidence: str  # the numbers the answer rests on
    reference: str


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def learned(final_val_accuracy: float | None, learned_accuracy: float) -> bool:
    """What counts as learning, for a Stage 2 variant and a depth of the vanishing test alike: a final
    validation accuracy at least `learned_accuracy` (None, a diverged run, never learned)."""
    return reaches(final_val_accuracy or 0, learned_accuracy)


def mean_of_seeds(mean: float, std: float | None, n: int) -> str:
    """E.g. "74.44% (mean of 3 seeds, sd 0.30 points)"."""
    spread = "" if std is None else f", sd {100 * std:.2f} points"
    return f"{pct(mean)} (mean of {n} seed{'s' if n != 1 else ''}{spread})"


def baseline_accuracy(mean: float, std: float | None, n: int) -> Finding:
    return Finding("Stage 1", f"the baseline CNN reaches at least {pct(BASELINE_TARGET)}",
                   reaches(mean, BASELINE_TARGET), f"test accuracy {mean_of_seeds(mean, std, n)}",
                   REFERENCES["baseline"])


def linear_collapse(baseline: float, affine: float, softmax: float, maxpool: float, maxpool_affine: bool,
                    affine_against_baseline: Difference) -> Finding:
    """Accuracies are means over each configuration's seeds. `affine`: identity activations with average
    pooling (one affine map); `maxpool`: identity with max-pooling, which is not linear (max is not), so it is
    explained, not counted. The gap to the baseline must also be beyond the seed-noise floor."""
    shown = (reaches(AFFINE_WITHIN_SOFTMAX, abs(affine - softmax)) and reaches(baseline - affine, AFFINE_BELOW_BASELINE)
             and affine_against_baseline.beyond_noise)
    maxpool_note = ("max-pooling alone keeps it non-linear, so it is no affine map" if not maxpool_affine else
                    "it fitted an affine map, which max-pooling does not guarantee")
    return Finding(
        "Stage 1", f"without non-linearities the CNN collapses to a linear classifier: within "
                   f"{100 * AFFINE_WITHIN_SOFTMAX:.0f} points of softmax regression on the pixels and at least "
                   f"{100 * AFFINE_BELOW_BASELINE:.0f} points below the ReLU baseline, beyond seed noise", shown,
        f"affine network (identity + average pooling) {pct(affine)}, softmax on pixels {pct(softmax)}, ReLU "
        f"baseline {pct(baseline)}; affine against the baseline: {affine_against_baseline}; identity + "
        f"max-pooling {pct(maxpool)} ({maxpool_note})", REFERENCES["collapse"])


def bottleneck(accuracy_by_width: Mapping[int, float], baseline: float, narrowest: Difference) -> Finding:
    """Accuracies are means over seeds; `narrowest`: the narrowest width against the baseline."""
    widths = sorted(accuracy_by_width)
    accuracies = [accuracy_by_width[w] for w in widths]
    rising = all(a < b for a, b in zip(accuracies, accuracies[1:]))
    narrowest_gap = baseline - accuracies[0]
    shown = rising and reaches(narrowest_gap, BOTTLENECK_BELOW_BASELINE) and narrowest.beyond_noise
    return Finding("Stage 1", f"accuracy rises with the bottleneck's width, the narrowest at least "
                              f"{100 * BOTTLENECK_BELOW_BASELINE:.0f} points below the baseline, beyond seed noise",
                   shown, ", ".join(f"width {w}: {pct(a)}" for w, a in zip(widths, accuracies))
                   + f"; baseline {pct(baseline)}; the narrowest against the baseline: {narrowest}",
                   REFERENCES["bottleneck"])


def width_scaling(wider: Difference, label: str) -> Finding:
    """`wider` is the wider variant against the baseline: at least as well means not worse beyond seed noise."""
    worse = wider.difference < 0 and wider.beyond_noise
    return Finding("Stage 2", f"{label} does at least as well as the baseline", not worse,
                   f"{label} against the baseline: {wider}", REFERENCES["scaling"])


def depth_scaling(deeper: Mapping[str, Difference]) -> Finding:
    """`deeper`: each deeper plain variant against the baseline, at the same budget."""
    shown = bool(deeper) and all(d.difference < 0 and d.beyond_noise for d in deeper.values())
    return Finding("Stage 2", "deeper plain stacks train worse at the same budget, beyond seed noise", shown,
                   "; ".join(f"{name} against the baseline: {d}" for name, d in deeper.items()),
                   REFERENCES["scaling"])


def vanishing_gradients(by_depth: Mapping[int, dict], learned_accuracy: float) -> Finding:
    """`by_depth`: per depth, "input_over_output" (the first layer's gradient norm over the last's, at
    initialisation) and "final_val_accuracy" (None if it diverged)."""
    depths = sorted(by_depth)
    ratios = [by_depth[d]["input_over_output"] for d in depths]
    shrinking = all(a > b for a, b in zip(ratios, ratios[1:]))
    learners = [d for d in depths if learned(by_depth[d]["final_val_accuracy"], learned_accuracy)]
    failed = [d for d in depths if d not in learners]
    contrast = bool(learners) and bool(failed) and max(learners) < min(failed)
    return Finding(
        "Stage 2", "in plain networks the gradient shrinks toward the input as depth grows, and a shallow one "
                   "learns where deeper ones do not", shrinking and contrast,
        "first-over-last layer gradient norm at initialisation: " + ", ".join(
            f"depth {d}: {r:.2g}" for d, r in zip(depths, ratios))
        + f"; learned (validation accuracy at least {pct(learned_accuracy)}): "
        + (", ".join(map(str, learners)) or "none") + "; did not: " + (", ".join(map(str, failed)) or "none"),
        REFERENCES["vanishing"])


def residual_cnn_beats_baseline(stage3: Difference) -> Finding:
    return Finding("Stage 3", "the residual CNN beats the Stage 1 baseline at the same budget, beyond seed noise",
                   stage3.difference > 0 and stage3.beyond_noise, f"Stage 3 against Stage 1: {stage3}",
                   REFERENCES["stage3"])


def components_matter(ablations: Mapping[str, Difference], essential: tuple[str, ...]) -> Finding:
    """`ablations`: each ablation against the full Stage 3 model (negative: the component helped).
    `essential`: the ablations the literature says must cost accuracy (no residuals, no batch norm)."""
    shown = all(name in ablations and ablations[name].difference < 0 and ablations[name].beyond_noise
                for name in essential)
    return Finding("Stage 3", "without residual connections or without batch norm the network is worse beyond seed "
                              "noise; each other component's effect is measured against the same floor", shown,
                   "; ".join(f"{name}: {d}" for name, d in ablations.items()), REFERENCES["stage3"])
