"""Every figure of the report, each drawn (by plots.py) from the study into reports/figures/: the one place
the report writes images, so the section builders return Markdown only. The file names are the ones the
report's Markdown and dvc.yaml's plots section refer to. What the machine measured (time, memory) is drawn
apart, into reports/figures/timing/ for timing.md, which DVC ignores (analysis/measurements.py)."""
from __future__ import annotations

from ..analysis.run_records import val_accuracy_by_epoch
from ..analysis.stage1_results import bottleneck_table, confusion_matrix
from ..analysis.stage2_results import StressTests, best_variant
from ..analysis.stage3_results import convergence
from ..analysis.stage45_results import Stage5Results
from ..core.layout import STAGE1
from ..data import CLASSES
from . import plots
from .plots import FIGURES, TIMING_FIGURES
from .study import Study
from .summary import StageResult, best_histories


def draw_all(study: Study, results: list[StageResult]) -> None:
    """The figures of every stage the study has complete (`results`: summary.collect(study))."""
    plots.epoch_curves(val_accuracy_by_epoch(best_histories(results)), FIGURES / "study_val_accuracy.png",
                       f"Best run of each stage, by final validation accuracy ({study.profile} profile)")
    _stage1(study)
    if study.stage2 is not None:
        _stage2(study)
    if study.stress is not None:
        _stress_tests(study.stress)
    if study.variants is not None and "stage3" in study.done:
        compared, target = convergence(best_variant(study.variants), study.baseline)
        histories = {label: study.histories[run] for label, run in compared.items()}
        plots.val_accuracy_curves(histories, FIGURES / "convergence.png",
                                  f"Validation accuracy per epoch ({study.profile} profile)", target)
        plots.val_accuracy_by_time(histories, TIMING_FIGURES / "convergence.png",
                                   f"Validation accuracy against training time ({study.profile} profile)", target)
    if study.stage4 is not None:
        plots.seed_curves(study.stage4.histories, FIGURES / "stage4_curves.png",
                          f"Stage 4 ResNet-18 ({study.stage4.summary['provenance']['profile']} profile)")
    if study.stage5 is not None:
        stage45(study.stage5)


def _stage1(study: Study) -> None:
    profile = study.profile
    seeds = len(study.baseline["seeds"])
    plots.curves(study.histories[STAGE1], FIGURES / "stage1_curves.png",
                 f"Stage 1 baseline CNN, mean of {seeds} seed(s) ({profile} profile)")
    plots.confusion(confusion_matrix(study.stage1_predictions), list(CLASSES),
                    FIGURES / "stage1_confusion_matrix.png",
                    f"Stage 1 baseline: test confusion matrix, {seeds} seed(s) pooled ({profile} profile)")
    if study.experiments is not None:
        stage = study.experiments["bottleneck_stage"]
        plots.accuracy_vs_width(bottleneck_table(study.experiments), FIGURES / "stage1_bottleneck.png",
                                f"Bottleneck at conv stage {stage + 1} ({profile} profile)",
                                baseline_width=study.experiments["baseline_channels"][stage])


def _stage2(study: Study) -> None:
    plots.overfitting(study.stage2.histories, FIGURES / "stage2_overfitting.png",
                      f"Stage 2: train vs validation ({study.profile} profile)")
    first_seed = {v: steps[min(steps)] for v, steps in study.stage2.steps.items()}
    plots.stability(first_seed, study.params.stage2.loss_window, FIGURES / "stage2_stability.png",
                    f"Stage 2: optimisation stability, each variant's first seed ({study.profile} profile)")


def _stress_tests(stress: StressTests) -> None:
    plots.grad_norms_by_layer(stress.grad_norms, FIGURES / "stage2_grad_norms.png",
                              f"Plain CNNs: gradient norm per layer ({stress.vanishing['profile']} profile)")
    widths, e = stress.widths, stress.explosion
    plots.scaling(widths, e["fits"], FIGURES / "stage2_scaling.png",
                  f"Width x1..x{widths['width'].max()}: counted cost against width ({e['profile']} profile)")
    plots.measured_scaling(widths, e["fits"], TIMING_FIGURES / "stage2_scaling.png",
                           f"Width x1..x{widths['width'].max()}: measured cost against width ({e['profile']} profile)",
                           e["measure_batch_size"])


def stage45(r: Stage5Results) -> None:
    """Stage 5's figures: mean validation curves of Stage 4, Stage 5 and the ablations (where the runs have a
    validation split), and their reliability diagrams against Stage 4."""
    profile = r.full.summary["provenance"]["profile"]
    if r.has_val_curves:  # else every run trained on its validation split: no curves to draw
        plots.epoch_curves(r.val_curves, FIGURES / "stage5_ablations.png",
                           f"Stages 4 and 5, mean validation accuracy over seeds ({profile} profile)")
    plots.reliability(r.reliability, "stage4", FIGURES / "stage45_reliability.png",
                      f"Reliability of the test predictions, pooled over seeds ({profile} profile)")
