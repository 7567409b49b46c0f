"""The report's findings section: each Stage 1-3 finding of analysis/findings.py, judged on the study's runs,
with its numbers and reference, and a plain "not shown" where these runs do not show it. A function of the
Study, like every section; findings whose runs are not complete are left out."""
from __future__ import annotations

import pandas as pd

from ..analysis import findings
from ..analysis.findings import Finding
from ..analysis.stage2_results import deeper_variants, wider_variants
from ..components.stage3_components import STAGE3_COMPONENTS
from ..components.switches import ablations
from ..core.layout import STAGE1, STAGE1_EXPERIMENTS, STAGE3, run_name, variant_run
from .formatting import md
from .study import Study

ESSENTIAL = ("no_residual", "no_batchnorm")  # the Stage 3 components the literature says must cost accuracy


def stage1_findings(study: Study) -> list[Finding]:
    base = study.baseline
    out = [findings.baseline_accuracy(base["test_accuracy"], base["test_accuracy_std"], len(base["seeds"]))]
    if study.experiments is None:
        return out
    runs, collapse = study.experiments["runs"], study.experiments["collapse"]
    baseline = base["test_accuracy"]
    out.append(findings.linear_collapse(
        baseline, runs["linear_avgpool"]["test_accuracy"], runs["softmax"]["test_accuracy"],
        runs["linear_maxpool"]["test_accuracy"], collapse["linear_maxpool"]["is_affine"],
        study.against(f"{STAGE1_EXPERIMENTS}/linear_avgpool", STAGE1)))
    widths = sorted(study.experiments["bottleneck_widths"])
    sweep = {w: runs[f"bottleneck_{w}"]["test_accuracy"] for w in widths}
    full_width = study.experiments["baseline_channels"][study.experiments["bottleneck_stage"]]
    out.append(findings.bottleneck({full_width: baseline, **sweep}, baseline,  # the baseline is the widest
                                   study.against(f"{STAGE1_EXPERIMENTS}/bottleneck_{widths[0]}", STAGE1)))
    return out


def stage2_findings(study: Study) -> list[Finding]:
    out = []
    if study.variants is not None:
        # The baseline is the Stage 1 run.
        against = {v: study.against(variant_run(v), STAGE1) for v in study.params.stage2.variants}
        out += [findings.width_scaling(against[v], v) for v in wider_variants(study.variants)
                if against[v] is not None]
        deeper = {v: against[v] for v in deeper_variants(study.variants) if against[v] is not None}
        if deeper:
            out.append(findings.depth_scaling(deeper))
    if study.stress is not None:
        by_depth = {run["depth"]: {"input_over_output": run["grad_norms"].get("0", {}).get("first_over_last"),
                                   "final_val_accuracy": run.get("final_val_accuracy")}
                    for run in study.stress.vanishing["runs"].values()}
        if all(d["input_over_output"] is not None for d in by_depth.values()):
            out.append(findings.vanishing_gradients(by_depth, study.stress.vanishing["learned_accuracy"]))
    return out


def stage3_findings(study: Study) -> list[Finding]:
    if "stage3" not in study.done:
        return []
    out = []
    beats = study.against(STAGE3, STAGE1)
    if beats is not None:
        out.append(findings.residual_cnn_beats_baseline(beats))
    against_full = {name: study.against(run_name(STAGE3, name), STAGE3) for name in ablations(STAGE3_COMPONENTS)}
    if all(d is not None for d in against_full.values()):
        out.append(findings.components_matter(against_full, ESSENTIAL))
    return out


def findings_section(study: Study) -> list[str]:
    judged = [*stage1_findings(study), *stage2_findings(study), *stage3_findings(study)]
    if not judged:
        return []
    shown = sum(f.shown for f in judged)
    rows = [{"stage": f.stage, "finding": f.claim, "shown here": "yes" if f.shown else "**not shown at this budget**",
             "numbers": f.evidence, "reference": f.reference} for f in judged]
    return ["## Findings of Stages 1-3", "",
            f"What the literature shows, tested on these runs ({study.profile} profile; the rules and thresholds are "
            f"in `analysis/findings.py`): {shown} of {len(judged)} shown. Accuracies are means over each "
            f"configuration's seeds, and a difference counts as an effect only beyond the seed-noise floor: what "
            f"retraining with other seeds alone gives at level {study.params.statistics.alpha} (Welch's t test with "
            f"several seeds a side; one run against the prediction interval of the reference's seeds). McNemar's p, "
            f"beside it, measures only how much the test images could move a comparison of the trained models, "
            f"never how much retraining would. A finding marked not shown is one this budget, data or these seeds "
            f"do not show; the numbers say by how much.",
            "", md(pd.DataFrame(rows), numparse=False), ""]
