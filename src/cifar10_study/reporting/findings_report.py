"""The report's findings section: each Stage 1-3 finding of analysis/findings.py, judged on the study's runs,
with its numbers and reference, and a plain "not shown" where these runs do not show it. A function of the
Study, like every section; findings whose runs are not complete are left out."""
from __future__ import annotations

import pandas as pd

from ..analysis import findings
from ..analysis.findings import Difference, Finding
from ..analysis.stage2_results import deeper_variants, wider_variants
from ..components.stage3_components import STAGE3_COMPONENTS
from ..components.switches import ablations
from ..core.layout import STAGE1, STAGE3, run_name, variant_run
from .formatting import md
from .study import Study

ESSENTIAL = ("no_residual", "no_batchnorm")  # the Stage 3 components the literature says must cost accuracy


def stage1_findings(study: Study) -> list[Finding]:
    baseline = study.baseline["test_accuracy"]
    out = [findings.baseline_accuracy(baseline)]
    if study.experiments is None:
        return out
    runs, collapse = study.experiments["runs"], study.experiments["collapse"]
    out.append(findings.linear_collapse(
        baseline, runs["linear_avgpool"]["test_accuracy"], runs["softmax"]["test_accuracy"],
        runs["linear_maxpool"]["test_accuracy"], collapse["linear_maxpool"]["is_affine"]))
    sweep = {w: runs[f"bottleneck_{w}"]["test_accuracy"] for w in study.experiments["bottleneck_widths"]}
    full_width = study.experiments["baseline_channels"][study.experiments["bottleneck_stage"]]
    out.append(findings.bottleneck({full_width: baseline, **sweep}, baseline))  # the baseline is the widest
    return out


def _against(study: Study, run: str, reference: str) -> Difference | None:
    """`run` against `reference` on the same test images, where both kept their predictions."""
    if run not in study.correct or reference not in study.correct:
        return None
    return Difference.of(study.correct[run], study.correct[reference], study.params.statistics.alpha)


def stage2_findings(study: Study) -> list[Finding]:
    out = []
    if study.variants is not None:
        # The baseline is the Stage 1 run.
        against = {v: _against(study, variant_run(v), STAGE1) for v in study.params.stage2.variants}
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
    beats = _against(study, STAGE3, STAGE1)
    if beats is not None:
        out.append(findings.residual_cnn_beats_baseline(beats))
    against_full = {name: _against(study, run_name(STAGE3, name), STAGE3) for name in ablations(STAGE3_COMPONENTS)}
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
            f"in `analysis/findings.py`; differences between two runs are exact McNemar tests on the same test "
            f"images, within noise at p >= {study.params.statistics.alpha}): {shown} of {len(judged)} shown. A "
            f"finding marked not shown is one this budget, data or seed does not show; the numbers say by how much.",
            "", md(pd.DataFrame(rows), numparse=False), ""]
