"""What the report, the summary and the figures read, loaded once: every file of every complete stage and
the comparisons the analysis draws from them. Every section, table and figure is a function of the `Study`;
none reads a file."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..analysis import stage1_results
from ..analysis.available import completed_stages
from ..analysis.comparisons import SeededRuns
from ..analysis.run_records import correct, files, history, predictions, read_run
from ..analysis.stage2_results import Stage2AnalysisParams, StressTests, VariantRuns, compared_variants, variants_table
from ..analysis.stage3_results import configurations
from ..analysis.stage45_results import Stage5Results, Stage45AnalysisParams, stage4_runs, stage5_runs
from ..core.errors import StudyError
from ..core.layout import RUNS, STAGE1, variant_run
from ..core.provenance import git_state


class ReportParams(Stage2AnalysisParams, Stage45AnalysisParams):
    """What the report stage reads of params.yaml: what the Stage 2 and Stages 4-5 analyses read."""


@dataclass(frozen=True)
class Study:
    """Which stages are complete and their runs' files (None or absent where a stage is not complete)."""

    params: ReportParams
    done: set[str]
    code: dict  # the git commit the report is written at (core.provenance.git_state), for timing.md
    records: dict[str, dict]  # run name -> record (read_run) of every single run the report names
    histories: dict[str, pd.DataFrame]  # run name -> per-epoch history with each epoch's seconds
    stage1_predictions: pd.DataFrame  # the Stage 1 baseline's test predictions
    # run name -> per-image test correctness of every single run above that kept its predictions (the
    # Stage 1-3 findings compare runs on the same images)
    correct: dict[str, np.ndarray]
    experiments: dict | None  # stage1_results.experiments(): the collapse check and the bottleneck sweep
    stage2: VariantRuns | None
    variants: pd.DataFrame | None  # stage2_results.variants_table
    stress: StressTests | None
    stage4: SeededRuns | None
    stage5: Stage5Results | None  # Stage 5 and its ablations against Stage 4

    @property
    def baseline(self) -> dict:
        """The Stage 1 baseline's run record."""
        return self.records[STAGE1]

    @property
    def profile(self) -> str:
        """The profile the Stage 1 baseline trained at."""
        return self.baseline["provenance"]["profile"]

    @classmethod
    def load(cls, params: ReportParams) -> "Study":
        seeds = params.seeds()
        done = completed_stages(compared_variants(params.stage2), seeds)
        if "stage1" not in done:
            raise StudyError(f"no finished Stage 1 run in {RUNS / STAGE1}: the report starts from it; "
                             f"run `dvc repro {STAGE1}`")
        stage2 = VariantRuns.load(compared_variants(params.stage2)) if "stage2" in done else None
        records, histories = _single_runs(done, stage2)
        stage1_predictions = predictions(STAGE1)
        stage4 = stage4_runs(seeds) if "stage4" in done else None
        return cls(
            params, done, git_state(), records, histories, stage1_predictions,
            _correctness(records, {STAGE1: stage1_predictions}),
            stage1_results.experiments() if "stage1_experiments" in done else None,
            stage2, None if stage2 is None else variants_table(params.stage2, stage2),
            StressTests.load(params.stage2.learned_accuracy) if "stress_tests" in done else None,
            stage4,
            Stage5Results.of(stage4, *stage5_runs(seeds), params.statistics) if {"stage4", "stage5"} <= done else None)


def _single_runs(done: set[str], stage2: VariantRuns | None) -> tuple[dict[str, dict], dict[str, pd.DataFrame]]:
    """Run name -> record and run name -> history of the one-seed runs of Stages 1-3 that are complete: the
    baseline, the scaling variants (already read by VariantRuns), Stage 3 and its ablations."""
    records, histories = {}, {}
    if stage2 is not None:  # with the baseline's, the Stage 1 run's
        records |= {variant_run(v): r for v, r in stage2.records.items()}
        histories |= {variant_run(v): h for v, h in stage2.histories.items()}
    runs = [run for run in (STAGE1, *(configurations().values() if "stage3" in done else ())) if run not in records]
    return records | {run: read_run(run) for run in runs}, histories | {run: history(run) for run in runs}


def _correctness(records: dict[str, dict], loaded: dict[str, pd.DataFrame]) -> dict[str, np.ndarray]:
    """Run name -> whether each test image was classified right, for the runs that kept their predictions
    (`loaded`: predictions already read, not read again)."""
    kept = [run for run in records if run in loaded or files(run).predictions.is_file()]
    return {run: correct(loaded[run] if run in loaded else predictions(run)) for run in kept}
