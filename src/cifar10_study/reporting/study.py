"""What the report, the summary and the figures read, loaded once: every file of every complete stage and
the comparisons the analysis draws from them. Every section, table and figure is a function of the `Study`;
none reads a file."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..analysis import stage1_results
from ..analysis.available import TrainedSeeds, completed_stages
from ..analysis.comparisons import SeededRuns
from ..analysis.seed_noise import Difference
from ..analysis.stage1_results import Stage1AnalysisParams, every_seed_predictions
from ..analysis.stage2_results import Stage2AnalysisParams, StressTests, VariantRuns, variants_table
from ..analysis.stage3_results import Stage3AnalysisParams, stage3_runs
from ..analysis.stage45_results import Stage5Results, Stage45AnalysisParams, stage4_runs, stage5_runs
from ..core.errors import StudyError
from ..core.layout import RUNS, STAGE1, STAGE2_BASELINE, seeds_trained, variant_run
from ..core.provenance import git_state
from ..core.schema import Profile


class ReportParams(Stage1AnalysisParams, Stage2AnalysisParams, Stage3AnalysisParams, Stage45AnalysisParams):
    """What the report stage reads of params.yaml: what every analysis stage reads."""

    def trained_seeds(self) -> TrainedSeeds:
        return TrainedSeeds(self.stage1.trained(self.profile), self.stage1_experiments.trained(self.profile),
                            seeds_trained(self.stage2.seeds, self.profile),
                            seeds_trained(self.stage3.seeds, self.profile),
                            seeds_trained(self.stage3.ablation_seeds, self.profile), self.seeds())


@dataclass(frozen=True)
class Study:
    """Which stages are complete and their runs' files (None or absent where a stage is not complete)."""

    params: ReportParams
    done: set[str]
    code: dict  # the git commit the report is written at (core.provenance.git_state), for timing.md
    # configuration (its runs' folder, e.g. stage1, stage2/width_x2, stage3_ablations/no_dropout) -> its runs
    # over seeds, for every complete Stage 1-3 configuration the report names
    seeded: dict[str, SeededRuns]
    records: dict[str, dict]  # configuration -> its mean record over seeds (SeededRuns.mean_record)
    histories: dict[str, pd.DataFrame]  # configuration -> its mean history over seeds, with epoch seconds
    stage1_predictions: pd.DataFrame  # the Stage 1 baseline's test predictions, every seed's
    experiments: dict | None  # stage1_results.experiments(): the collapse check and the bottleneck sweep
    stage2: VariantRuns | None
    variants: pd.DataFrame | None  # stage2_results.variants_table
    stress: StressTests | None
    stage4: SeededRuns | None
    stage5: Stage5Results | None  # Stage 5 and its ablations against Stage 4

    @property
    def baseline(self) -> dict:
        """The Stage 1 baseline's mean record over its seeds."""
        return self.records[STAGE1]

    @property
    def profile(self) -> Profile:
        """The profile the Stage 1 baseline trained at."""
        return self.baseline["provenance"]["profile"]

    def against(self, configuration: str, reference: str) -> Difference | None:
        """`configuration` against `reference` (both complete configurations' runs folders), judged against the
        seed-noise floor; None where either is not complete."""
        if configuration not in self.seeded or reference not in self.seeded:
            return None
        return Difference.of(self.seeded[configuration], self.seeded[reference], self.params.statistics.alpha)

    @classmethod
    def load(cls, params: ReportParams) -> "Study":
        seeds = params.trained_seeds()
        done = completed_stages(params.stage2.variants, seeds)
        if "stage1" not in done:
            raise StudyError(f"no finished Stage 1 run in {RUNS / STAGE1}: the report starts from it; "
                             f"run `dvc repro {STAGE1}`")
        stage2 = VariantRuns.load(params) if "stage2" in done else None
        seeded = _configurations(params, done, stage2)
        experiments = (stage1_results.experiments(params.profile, params.stage1_experiments)
                       if "stage1_experiments" in done else None)
        if experiments is not None:
            seeded |= {runs.name: runs for runs in experiments["seeded"].values()}
        stage4 = stage4_runs(seeds.stage4) if "stage4" in done else None
        return cls(
            params, done, git_state(), seeded, {name: r.mean_record() for name, r in seeded.items()},
            {name: r.mean_history() for name, r in seeded.items()}, every_seed_predictions(seeded[STAGE1]),
            experiments, stage2, None if stage2 is None else variants_table(params.stage2, stage2),
            StressTests.load(params.stage2.learned_accuracy) if "stress_tests" in done else None,
            stage4,
            Stage5Results.of(stage4, *stage5_runs(seeds.stage4), params.statistics)
            if {"stage4", "stage5"} <= done else None)


def _configurations(params: ReportParams, done: set[str], stage2: VariantRuns | None) -> dict[str, SeededRuns]:
    """Runs folder -> runs over seeds of the complete Stage 1-3 configurations: the baseline, the scaling
    variants (already read by VariantRuns), Stage 3 and its ablations."""
    if stage2 is not None:  # with the baseline's, the Stage 1 runs
        seeded = {variant_run(v): r for v, r in stage2.seeded.items()}
    else:
        seeded = {STAGE1: SeededRuns.load(STAGE1, params.variant_seeds(STAGE2_BASELINE))}
    if "stage3" in done:
        seeded |= {r.name: r for r in stage3_runs(params).values()}
    return seeded
