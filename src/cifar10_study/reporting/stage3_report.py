"""The report's Stage 3 section: the residual CNN with batch norm and regularisation, its convergence against
the Stage 1 baseline and the best Stage 2 variant, its ablations and which parameters it decays."""
from __future__ import annotations

import pandas as pd

from ..analysis.diagnostics import first_epoch_reaching
from ..analysis.stage2_results import best_variant, scaled_variants
from ..analysis.stage3_results import configurations, convergence, decays_every_parameter
from ..components.stage3_components import STAGE3_COMPONENTS
from ..components.switches import turned_off
from ..core.layout import STAGE3
from .formatting import TIMING_LINK, accuracy_over_seeds, against_cell, md, pct
from .study import Study


def _convergence_rows(study: Study) -> tuple[list[dict], float, set[int]]:
    """The convergence table's rows, the target accuracy, and the numbers of training images the runs saw."""
    compared, target = convergence(best_variant(study.variants), study.baseline)
    rows = []
    for label, run in compared.items():
        epoch, _ = first_epoch_reaching(study.histories[run], target)
        m = study.records[run]
        rows.append({"model": label, "params": f"{m['parameters']:,}", "train images/epoch": f"{m['train_images']:,}",
                     f"epochs to {pct(target)} val": epoch or "not reached",
                     "train acc": pct(m["final_train_accuracy"]), "val acc": pct(m["final_val_accuracy"]),
                     "test acc": accuracy_over_seeds(m),
                     "gap (train - val)": pct(m["final_train_accuracy"] - m["final_val_accuracy"])})
    return rows, target, {study.records[run]["train_images"] for run in compared.values()}


def stage3_section(study: Study) -> list[str]:
    full = study.records[configurations()[STAGE3]]
    scaled, sw = scaled_variants(study.variants), full["config"]
    rows, target, images = _convergence_rows(study)
    return [
        "## Stage 3: residual CNN with batch norm and regularisation",
        "",
        f"A residual CNN ({', '.join(map(str, sw['model']['channels']))} channels, "
        f"{sw['model']['blocks_per_stage']} block(s) per stage, global average pooling) with every modern component "
        f"a switch: residual connections {sw['model']['residual']}, batch norm {sw['model']['batchnorm']}, dropout "
        f"{sw['model']['dropout']}, label smoothing {sw['train']['label_smoothing']}, weight decay "
        f"{sw['train']['optimizer']['weight_decay']}. It has {full['parameters']:,} parameters against "
        f"{study.baseline['parameters']:,} for the Stage 1 baseline and "
        f"{scaled['parameters'].min():,} to {scaled['parameters'].max():,} "
        f"for the Stage 2 variants.",
        "",
        "### Convergence and generalisation",
        "",
        md(pd.DataFrame(rows)),
        "",
        "![Convergence](figures/convergence.png)",
        "",
        f"The target is the Stage 1 baseline's final validation accuracy, {pct(target)}. "
        + ("The three models train on the same images, so epochs compare equal passes over the same data"
           if len(images) == 1 else
           "The models train on different numbers of images (column 3), so epochs are comparable only as passes "
           "over each one's data")
        + ". " + TIMING_LINK,
        "",
        "### Ablations",
        "",
        *_ablations(study, full),
        _weight_decay_coverage(full["weight_decay"]),
        "",
    ]


def _component(ablation: str) -> str:
    """What an ablation turns off, e.g. no_label_smoothing -> label smoothing."""
    return turned_off(STAGE3_COMPONENTS, ablation, STAGE3).label


def _ablations(study: Study, full: dict) -> list[str]:
    configs = {name: run for name, run in configurations().items() if name != STAGE3}
    against = {name: study.against(run, STAGE3) for name, run in configs.items()}
    table = [{"run": "full model", "turned off": "", "params": f"{full['parameters']:,}",
              "train acc": pct(full["final_train_accuracy"]), "val acc": pct(full["final_val_accuracy"]),
              "test acc": accuracy_over_seeds(full), "test acc vs full": ""}]
    for name, run in configs.items():
        m = study.records[run]
        table.append({"run": name, "turned off": _component(name), "params": f"{m['parameters']:,}",
                      "train acc": pct(m["final_train_accuracy"]), "val acc": pct(m["final_val_accuracy"]),
                      "test acc": accuracy_over_seeds(m), "test acc vs full": against_cell(against[name])})
    lines = [md(pd.DataFrame(table), numparse=False), ""]
    hurt = {name: d for name, d in against.items() if d.difference < 0 and d.beyond_noise}
    helped = {name: d for name, d in against.items() if d.difference > 0 and d.beyond_noise}
    within = sorted(_component(name) for name, d in against.items() if d.p_value is not None and not d.beyond_noise)
    unmeasured = sorted(_component(name) for name, d in against.items() if d.p_value is None)
    if hurt:
        lines.append("Removing " + ", ".join(f"{_component(n)} ({100 * d.difference:+.2f} points)"
                                            for n, d in sorted(hurt.items(), key=lambda kv: kv[1].difference))
                     + " costs accuracy beyond seed noise.")
    if helped:
        lines.append("Removing " + ", ".join(_component(n) for n in helped) + " raises accuracy beyond seed noise.")
    if within:
        lines.append(f"Removing {', '.join(within)} moves test accuracy by less than retraining with another seed "
                     f"can: within seed noise at this profile, whatever the test images say.")
    if unmeasured:
        lines.append(f"The effect of removing {', '.join(unmeasured)} is not judged: with one seed a side, or seeds "
                     f"that agree exactly, there is no seed spread to judge it against.")
    return lines + [f"Accuracies are means over seeds ({_seed_counts(study, full, configs)}); each difference is "
                    f"judged against the full model's seed-noise floor (one-seed ablations: the prediction interval "
                    f"of the full model's seeds; several seeds a side: Welch's t test).", ""]


def _seed_counts(study: Study, full: dict, configs: dict[str, str]) -> str:
    ablation_seeds = {len(study.records[run]["seeds"]) for run in configs.values()}
    counts = " or ".join(map(str, sorted(ablation_seeds)))
    return f"the full model {len(full['seeds'])}, each ablation {counts}"


def _weight_decay_coverage(kinds: dict[str, dict]) -> str:
    """Which parameters the full Stage 3 model's optimizer decays, as its run recorded from the optimizer the
    engine builds (info.json "weight_decay"): what the no_weight_decay ablation takes away."""
    parts = [f"{kind}: {k['tensors']} tensors, {k['values']:,} values, weight decay "
             f"{' / '.join(f'{d:g}' for d in k['weight_decay'])}" for kind, k in kinds.items()]
    return (f"Weight decay in the full Stage 3 model ({'; '.join(parts)}): batch-norm and bias parameters "
            + ("**are** decayed like the weights, as in the reference recipe, which decays every parameter; the "
               "no_weight_decay ablation removes the decay from all of them." if decays_every_parameter(kinds) else
               "are **not** all decayed, unlike the reference recipe, which decays every parameter."))
