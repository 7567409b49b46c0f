"""How the Stage 4/5 comparisons read: a row of the comparisons table, the primary test's claim, each
ablation's effect and each calibration change, worded from a comparison (analysis.comparisons.compare or
compare_calibration) so that no sentence claims more than its test supports."""
from __future__ import annotations

from ..analysis.comparisons import SeededRuns, no_interval_reason
from ..analysis.stage45_results import PRIMARY, verdict_withheld
from .formatting import mean_std


def level(alpha: float) -> str:
    """The confidence level of every interval, e.g. "95%" at alpha 0.05."""
    return f"{100 * (1 - alpha):g}%"


def _interval(c: dict) -> str:
    w = c["welch"]
    if w["ci_low"] is None:
        return f"n/a ({no_interval_reason(c)})"
    return f"[{100 * w['ci_low']:+.2f}, {100 * w['ci_high']:+.2f}]"


def _points(x: float | None, missing: str = "n/a") -> str:
    return missing if x is None else f"{100 * x:.2f}"


def test_name(c: dict) -> str:
    """The test the comparison's verdict rests on, in one word."""
    return "Welch" if c["welch"]["p_value"] is not None else "McNemar"


def comparison_row(label: str, c: dict, confidence: str) -> dict:
    """One row of the comparisons table (A - B, the `confidence` interval, the test, p before and after Holm)."""
    m = c["mcnemar"]
    return {"comparison (A vs B)": label, "A - B (points)": f"{100 * c['welch']['difference']:+.2f}",
            f"{confidence} CI (points)": _interval(c), "test": test_name(c), "p": f"{c['p_value']:.3g}",
            "Holm p": "(primary)" if label == PRIMARY else f"{c['p_adjusted']:.3g}",
            "detectable (points)": _points(c["detectable"]),
            "images only A / only B gets right": f"{m['a_only']:,} / {m['b_only']:,}", "A is": c["verdict"]}


def _detectable_phrase(c: dict) -> str:
    """What a "no significant difference" means for this design, in one clause."""
    if c["detectable"] is None:
        return "the design gives no estimate of the difference it could detect"
    scope = ("across seeds" if test_name(c) == "Welch"
             else "between these two trained models on these test images")
    return (f"with this design only a difference of about {_points(c['detectable'])} points or more {scope} would "
            f"be found with probability {c['power']:g}")


def calibration_sentence(label: str, c: dict, a: SeededRuns, b: SeededRuns, confidence: str) -> str:
    """A's expected calibration error against B's (compare_calibration), as a list item."""
    ece_a, ece_b = a.summary["test_ece"], b.summary["test_ece"]
    text = (f"- {label}: ECE {mean_std(ece_a)} against {mean_std(ece_b)}, "
            f"{100 * c['welch']['difference']:+.2f} points")
    if verdict_withheld(c["verdict"]):
        reason = no_interval_reason(c)
        return text + (f"; no interval ({reason})" if reason else
                       f", {confidence} CI [{100 * c['welch']['ci_low']:+.2f}, {100 * c['welch']['ci_high']:+.2f}], "
                       f"Welch p {c['welch']['p_value']:.3g}") + f": {c['verdict']}."
    if c["verdict"] is None:
        return text + f"; no interval ({no_interval_reason(c)}): ECE has no per-image test, so no verdict."
    return (text + f", {confidence} CI [{100 * c['welch']['ci_low']:+.2f}, {100 * c['welch']['ci_high']:+.2f}], "
            f"Welch p {c['welch']['p_value']:.3g}: " + ("**no significant difference** in calibration error"
                                                        if c["verdict"] == "no significant difference" else
                                                        f"**{c['verdict']}** calibration error than Stage 4")
            + f"; detectable across seeds: about {_points(c['detectable'])} points.")


def primary_sentence(headline: dict, alpha: float) -> str:
    """The study's headline claim, Stage 5 against Stage 4, with the test that decided it and what it does
    and does not establish."""
    reason = no_interval_reason(headline)
    if verdict_withheld(headline["verdict"]):
        claim = ("the test is computed and shown, but at this profile Stages 4-5 only check the pipeline (too few "
                 "epochs and images to compare recipes), so it decides nothing about Stage 5 against Stage 4")
    elif headline["verdict"] != "better":
        claim = "the data do not support the claim that Stage 5 beats the Stage 4 reproduction"
        if headline["verdict"] == "no significant difference":
            claim += f"; {_detectable_phrase(headline)}"
    elif reason is None:
        claim = f"Stage 5 beats the Stage 4 reproduction, across {headline['welch']['n_a']} seeds"
    else:
        claim = (f"Stage 5's trained models beat Stage 4's on these test images, but without a Welch interval "
                 f"({reason}) seed-to-seed variation is not accounted for, so this does not "
                 f"establish that the Stage 5 recipe is better (more seeds, as in the full profile, would)")
    return (f"**Primary test**, Stage 5 against Stage 4: {100 * headline['welch']['difference']:+.2f} points, "
            f"**{headline['verdict']}** ({headline['basis']}, p {headline['p_value']:.3g} at alpha {alpha:g}): "
            f"{claim}.")


def component_effect(component: str, c: dict) -> str:
    """What turning `component` off did, from the full model against its ablation (A = the full model:
    "better" means the component helps), as a list item."""
    reason = no_interval_reason(c)
    if verdict_withheld(c["verdict"]):
        effect = c["verdict"]
    elif reason is None:  # across seeds: a statement about the component
        effect = {"better": "helps (the full model beats the ablation)",
                  "worse": "hurts (the ablation beats the full model)",
                  "no significant difference": "has no significant effect"}[c["verdict"]]
    else:  # McNemar only: a statement about these trained models, not about the component
        effect = {"better": "the full model scored higher than the ablation without it",
                  "worse": "the ablation without it scored higher than the full model",
                  "no significant difference": "no significant difference between the two models"}[c["verdict"]]
        effect += f" ({reason}: a difference between trained models, not yet a component effect)"
    detail = (f"{100 * c['welch']['difference']:+.2f} points for the full model ({c['basis']}, Holm p "
              f"{c['p_adjusted']:.3g})")
    if c["verdict"] == "no significant difference":
        detail += f"; {_detectable_phrase(c)}"
    return f"- {component}: {effect}; {detail}."
