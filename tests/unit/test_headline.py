"""metrics/headline.json: the study's headline from the analysis stages' metrics files, and the DVC flags of
the views that show it (the views themselves run on the real DVC in tests/e2e/test_pipeline.py)."""
from __future__ import annotations

import re

import pytest

from cifar10_study.analysis.headline import KEYS, headline
from cifar10_study.views import diff_commands, drop_pattern, keep_pattern, show_command


def _metrics(verdict="no significant difference", p=0.012345, welch_p=None, profile="full"):
    """The five metrics files' contents and the profile: headline()'s arguments."""
    # Stages 1-3 as their analyses write them: the mean over seeds, with each seed's results (which the headline
    # must not read) and each comparison against the seed-noise floor.
    def seeded(mean: float, **more) -> dict:
        return {"test_accuracy": mean, "test_accuracy_std": 0.01, "seeds": [0, 1, 2],
                "per_seed": {f"seed_{s}": {"test_accuracy": mean - 0.01 + 0.01 * s} for s in (0, 2)}, **more}
    against = {"difference": -0.03, "seed_noise_floor": 0.02, "p_seed_noise": 0.01, "beyond_seed_noise": True,
               "p_mcnemar_test_images": 1e-9}
    stage1 = {**seeded(0.38591), "test_loss": 1.7}
    # "wide" has the best test accuracy but not the best validation accuracy: the headline must not pick it
    stage2 = {"variants": {"baseline": seeded(0.3859, final_val_accuracy=0.37),
                           "deep": seeded(0.3512, final_val_accuracy=0.40, against_baseline=against),
                           "wide": seeded(0.4512, final_val_accuracy=0.39, against_baseline=against)}}
    stage3 = {"configurations": {"stage3": seeded(0.446), "no_dropout": seeded(0.50, against_full=against)},
              "against_stage1_baseline": against}
    stage4 = {"test_accuracy": {"mean": 0.93456, "std": 0.001}}
    stage5 = {"configurations": {"stage5": {"test_accuracy": {"mean": 0.95004, "std": 0.002}},
                                 "no_se": {"test_accuracy": {"mean": 0.99, "std": 0.0}}},
              "comparisons": {"stage5 vs stage4": {"difference": 0.01548, "p": p, "welch_p": welch_p,
                                                   "verdict": verdict},
                              "no_se vs stage4": {"difference": 0.5, "p": 1e-9, "verdict": "better"}},
              "calibration": {"stage5 vs stage4": {"ece_difference": -0.012345},
                              "no_se vs stage4": {"ece_difference": 0.3}}}
    return stage1, stage2, stage3, stage4, stage5, profile


def test_the_headline_reads_each_stage_and_the_primary_test_in_percent():
    assert headline(*_metrics()) == {
        "acc1": 38.59, "acc2": 35.12, "acc3": 44.6, "acc4": 93.46, "acc5": 95.0, "d_acc": 1.55, "p": "0.012",
        "verdict": "n.s.", "d_ece": -1.23}


def test_its_keys_are_the_documented_ones_in_order():
    assert list(headline(*_metrics())) == list(KEYS)


@pytest.mark.parametrize("verdict, short", [("better", "better"), ("worse", "worse"),
                                            ("no significant difference", "n.s.")])
def test_the_verdict_is_shortened_without_changing_its_meaning(verdict, short):
    assert headline(*_metrics(verdict=verdict))["verdict"] == short


@pytest.mark.parametrize("profile", ["full", "preview"])
def test_a_profile_that_trains_a_real_recipe_keeps_the_verdict(profile):
    assert headline(*_metrics(verdict="better", profile=profile))["verdict"] == "better"


@pytest.mark.parametrize("profile", ["quick", "smoke"])
def test_at_a_pipeline_check_profile_the_numbers_stay_and_the_verdict_reads_n_a(profile):
    values = headline(*_metrics(verdict="better", p=3.43e-15, profile=profile))
    assert values["verdict"] == "n/a (check)"
    assert (values["d_acc"], values["p"], values["acc5"]) == (1.55, "3.4e-15", 95.0)


def test_a_comparison_without_a_test_stays_empty_not_zero():
    values = headline(*_metrics(verdict=None, p=None))
    assert values["p"] is None and values["verdict"] is None


def test_p_keeps_two_significant_digits_however_small():
    # as text: `dvc metrics diff --precision 10` would print a number this small as 0.0
    assert headline(*_metrics(p=7.793028e-09))["p"] == "7.8e-09"
    assert headline(*_metrics(p=3.43e-15))["p"] == "3.4e-15"


# --- the views' flags ---------------------------------------------------------------------------------------

SECTIONS = ["profile", "data", "runtime", "statistics", "stage1", "stage1_experiments", "stage2",
            "stage2_vanishing", "stage2_explosion", "stage3", "stage4", "stage5"]


@pytest.mark.parametrize("column", [*KEYS, "metrics/headline.json:p", "metrics/headline.json:acc4"])
def test_keep_matches_every_headline_column(column):
    assert re.match(keep_pattern(), column)


@pytest.mark.parametrize("column", ["p_holm", "acc10", "test_accuracy", "metrics/stage5.json:p", "stage5.p",
                                    "comparisons.stage5 vs stage4.p"])
def test_keep_matches_no_other_column(column):
    assert not re.match(keep_pattern(), column)


@pytest.mark.parametrize("column", ["Created", "test_accuracy", "test_accuracy.mean", "variants.wide.test_loss",
                                    "metrics/stage1.json:test_accuracy", "params.yaml", "data/prepared",
                                    "data/params.ok", "runs/stage5", "stages/stage1.py", "src/cifar10_study/core",
                                    "metrics/stage5.json"])
def test_drop_matches_every_column_that_is_neither_a_param_nor_the_name(column):
    assert re.match(drop_pattern(SECTIONS), column)


@pytest.mark.parametrize("column", ["Experiment", "profile", "data.source", "stage5.cutout", "stage2_vanishing.depths",
                                    "stage1.train.optimizer.lr", "statistics.alpha", "runtime.compile"])
def test_drop_leaves_the_params_and_the_name(column):
    assert not re.match(drop_pattern(SECTIONS), column)


def test_the_views_are_dvc_commands_with_the_users_arguments_last():
    show = show_command(SECTIONS, ["-A"])
    assert show[:3] == ["dvc", "exp", "show"] and "--only-changed" in show and show[-1] == "-A"
    metrics, params = diff_commands(["main", "other"])
    assert metrics[:3] == ["dvc", "metrics", "diff"] and metrics[-4:] == ["main", "other", "--targets",
                                                                         "metrics/headline.json"]
    assert params == ["dvc", "params", "diff", "main", "other"]
