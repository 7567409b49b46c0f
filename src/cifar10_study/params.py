"""Params: the whole of params.yaml, assembled from the config classes of the code that reads each section.

check_params validates the whole file with it before any other stage runs (and the report reads it);
every other stage loads only the View of the sections it reads (e.g. experiments.stage5.Stage5Params), so
that it imports, and DVC makes it depend on, only the code it runs. The cross-section rules live on those
views, and `load_params` checks every one of them, so the whole file is valid exactly when every stage's
view of it is.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Sequence

from .analysis.headline import HeadlineParams
from .analysis.stage2_results import Stage2AnalysisParams
from .analysis.stage45_results import Stage45AnalysisParams
from .analysis.stats import StatisticsConfig
from .core.cli import CommandParser, command_entry
from .core.params_file import PARAMS, parse, read_params_file
from .core.schema import Profile, Section
from .data.cifar10 import DataConfig, DataParams
from .experiments.stage1 import ExperimentParams, Stage1Config, Stage1ExperimentsConfig
from .experiments.stage2 import Stage2Config, Stage2Params
from .experiments.stage3 import Stage3Config, Stage3Params
from .experiments.stage4 import Stage4Config, Stage4Params
from .experiments.stage5 import Stage5Config, Stage5Params
from .experiments.stress_tests import ExplosionConfig, ExplosionParams, VanishingConfig, VanishingParams
from .training.device import Precision
from .training.runtime import RuntimeConfig

# Every stage's view of params.yaml, in pipeline order (each carries its cross-section rules).
STAGE_VIEWS = (DataParams, ExperimentParams, Stage2Params, VanishingParams, ExplosionParams, Stage3Params,
               Stage4Params, Stage5Params, Stage2AnalysisParams, Stage45AnalysisParams, HeadlineParams)


class Params(Section):
    profile: Profile
    data: DataConfig
    runtime: RuntimeConfig = RuntimeConfig()
    precision: Precision = "auto"
    stage1: Stage1Config
    stage1_experiments: Stage1ExperimentsConfig
    stage2: Stage2Config
    stage2_vanishing: VanishingConfig
    stage2_explosion: ExplosionConfig
    stage3: Stage3Config
    stage4: Stage4Config
    stage5: Stage5Config
    statistics: StatisticsConfig = StatisticsConfig()


def parse_params(raw: Any, source: str = "params.yaml") -> Params:
    """`raw` (params.yaml's content) validated as a whole and as every stage's view of it."""
    params = parse(Params, raw, source)
    for view in STAGE_VIEWS:
        parse(view, raw, source)
    return params


def load_params(path: str | Path = PARAMS) -> Params:
    """Read and validate params.yaml; any problem is a ConfigError with a one-line message."""
    return parse_params(read_params_file(path), str(path))


@command_entry
def main(argv: Sequence[str] | None = None) -> int:
    """`python -m cifar10_study.params [PARAMS_FILE]`: validate a params file as the pipeline's first stage does."""
    parser = CommandParser(prog="python -m cifar10_study.params",
                           description="Validate params.yaml (every section and every stage's view of it) as the "
                                       "pipeline's check_params stage does; one error line and exit status 2 if not.")
    parser.add_argument("path", metavar="PARAMS_FILE", nargs="?", type=Path, default=PARAMS,
                        help=f"the params file (default {PARAMS})")
    path = parser.parse_args(argv).path
    params = load_params(path)
    print(f"{path}: valid (profile {params.profile}, precision {params.precision})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
