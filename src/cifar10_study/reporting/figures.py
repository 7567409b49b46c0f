"""Every figure of the report, each drawn (by plots.py) from the study's runs into reports/figures/: the one
place the report writes images, so the section builders return Markdown only. The file names are the
ones the report's Markdown and dvc.yaml's plots section refer to."""
from __future__ import annotations

from ..analysis import stage1_results, stage2_results
from ..analysis.comparisons import SeededRuns
from ..analysis.run_records import history, predictions, val_accuracy_by_epoch
from ..analysis.stage45_results import mean_val_curves, reliability
from ..core.layout import STAGE1
from ..data import CLASSES
from . import plots, summary
from .plots import FIGURES
from .summary import StageResult, Study


def draw_all(study: Study, results: list[StageResult]) -> None:
    """The figures of every stage the study has complete (`results`: summary.collect(study))."""
    profile = study.baseline["provenance"]["profile"]
    curves = val_accuracy_by_epoch(summary.best_histories(results))
    plots.epoch_curves(curves, FIGURES / "study_val_accuracy.png",
                       f"Best run of each stage, by final validation accuracy ({profile} profile)")
    _stage1(study, profile)
    if study.variants is not None:
        _stage2(study, profile)
    if "stage2_stress" in study.done:
        _stress_tests(study)
    if study.variants is not None and "stage3" in study.done:
        compared, target = summary.convergence_runs(study)
        plots.val_accuracy_curves({label: history(run) for label, run in compared.items()},
                                  FIGURES / "convergence.png", f"Validation accuracy per epoch ({profile} profile)",
                                  target)
    if study.stage4 is not None:
        plots.seed_curves(study.stage4.histories, FIGURES / "stage4_curves.png",
                          f"Stage 4 ResNet-18 ({study.stage4.summary['provenance']['profile']} profile)")
    if study.stage5 is not None:
        stage45(study.stage4, *study.stage5)


def _stage1(study: Study, profile: str) -> None:
    plots.curves(history(STAGE1), FIGURES / "stage1_curves.png", f"Stage 1 baseline CNN ({profile} profile)")
    plots.confusion(stage1_results.confusion_matrix(predictions(STAGE1)), list(CLASSES),
                    FIGURES / "stage1_confusion_matrix.png",
                    f"Stage 1 baseline: test confusion matrix ({profile} profile)")
    if "stage1_experiments" in study.done:
        exp = stage1_results.experiments()
        stage = exp["bottleneck_stage"]
        plots.accuracy_vs_width(stage1_results.bottleneck_table(exp), FIGURES / "stage1_bottleneck.png",
                                f"Bottleneck at conv stage {stage + 1} ({profile} profile)",
                                baseline_width=exp["baseline_channels"][stage])


def _stage2(study: Study, profile: str) -> None:
    variants = study.params.stage2.variants
    plots.overfitting(stage2_results.variant_histories(variants), FIGURES / "stage2_overfitting.png",
                      f"Stage 2: train vs validation ({profile} profile)")
    plots.stability(stage2_results.variant_steps(variants), study.params.stage2.loss_window,
                    FIGURES / "stage2_stability.png", f"Stage 2: optimisation stability ({profile} profile)")


def _stress_tests(study: Study) -> None:
    vanishing = stage2_results.vanishing(study.params.stage2_vanishing.learned_accuracy)
    plots.grad_norms_by_layer(stage2_results.grad_norms(), FIGURES / "stage2_grad_norms.png",
                              f"Plain CNNs: gradient norm per layer ({vanishing['profile']} profile)")
    widths, e = stage2_results.explosion()
    plots.scaling(widths, e["fits"], FIGURES / "stage2_scaling.png",
                  f"Width x1..x{widths['width'].max()}: cost against width ({e['profile']} profile)",
                  e["measure_batch_size"])


def stage45(stage4: SeededRuns, full: SeededRuns, ablations: dict[str, SeededRuns]) -> None:
    """Stage 5's figures: mean validation curves of Stage 4, Stage 5 and the ablations (where the runs have a
    validation split), and their reliability diagrams against Stage 4."""
    everything = {"stage4": stage4, "stage5": full, **ablations}
    profile = full.summary["provenance"]["profile"]
    curves = mean_val_curves(everything)
    if not curves.isna().all().all():  # else every run trained on its validation split: no curves to draw
        plots.epoch_curves(curves, FIGURES / "stage5_ablations.png",
                           f"Stages 4 and 5, mean validation accuracy over seeds ({profile} profile)")
    plots.reliability(reliability(everything), "stage4", FIGURES / "stage45_reliability.png",
                      f"Reliability of the test predictions, pooled over seeds ({profile} profile)")
