"""The README shows the generated summary table, byte for byte, the sync replaces only its block, and the table
holds no measurement of the machine (timing.md does)."""
import pandas as pd
import pytest

from cifar10_study.core.errors import StudyError
from cifar10_study.reporting import timing_report
from cifar10_study.reporting.summary import (
    README_END,
    README_START,
    StageResult,
    best_histories,
    budgets,
    csv_table,
    readme_block,
    sync_readme,
    table,
)
from helpers import ROOT


def test_readme_shows_the_committed_generated_summary():
    generated = (ROOT / "reports/summary.md").read_text().strip()
    assert generated.count("\n| ") >= 4  # a header, a rule and a row per stage
    assert readme_block(ROOT / "README.md") == generated, "run: ./run.sh readme"


def test_sync_replaces_only_the_block_between_the_markers(tmp_path):
    readme, summary = tmp_path / "README.md", tmp_path / "summary.md"
    readme.write_text(f"intro\n{README_START}\nold table\n{README_END}\noutro\n")
    summary.write_text("| a |\n|---|\n| 1 |\n")
    sync_readme(readme, summary)
    assert readme.read_text() == f"intro\n{README_START}\n| a |\n|---|\n| 1 |\n{README_END}\noutro\n"
    sync_readme(readme, summary)  # idempotent
    assert readme_block(readme) == "| a |\n|---|\n| 1 |"


def test_a_readme_without_markers_is_a_clear_error(tmp_path):
    readme, summary = tmp_path / "README.md", tmp_path / "summary.md"
    readme.write_text("no markers here\n")
    summary.write_text("| a |\n")
    with pytest.raises(StudyError, match="no summary markers"):
        sync_readme(readme, summary)
    assert readme.read_text() == "no markers here\n"


def stage(number: str, epochs: int, images: int, val_acc: list | None = None) -> StageResult:
    history = pd.DataFrame({"epoch": range(1, epochs + 1), "val_acc": val_acc or [None] * epochs})
    return StageResult(number, "a model", {"epochs": epochs, "train_images": images}, {f"run {number}": history})


def test_the_budgets_are_stated_once_equal_for_stages_1_to_3_or_listed():
    equal = [stage("1", 4, 5000), stage("2", 4, 5000), stage("3", 4, 5000), stage("4", 2, 2000), stage("5", 2, 2000)]
    assert budgets(equal) == (
        "Stages 1, 2, 3 (with Stage 2's variants and Stage 3's ablations, which share their stage's recipe) each "
        "train 4 epochs on 5,000 images, the same images, so their rows compare equal work. Stage 4 trains 2 epochs "
        "on 2,000 images; Stage 5 trains 2 epochs on 2,000 images.")
    unequal = [stage("1", 5, 10_000), stage("2", 3, 5000), stage("3", 3, 3000)]
    assert budgets(unequal) == ("Stages 1-3 train different budgets (Stage 1: 5 epochs on 10,000 images; Stage 2: 3 "
                                "epochs on 5,000 images; Stage 3: 3 epochs on 3,000 images), so their rows do not "
                                "compare equal work.")


def test_the_best_run_figure_leaves_out_stages_without_validation_curves():
    results = [stage("1", 2, 100, [0.2, 0.3]), stage("4", 2, 100)]  # Stage 4 trained on its validation split
    assert list(best_histories(results)) == ["Stage 1: run 1"]


def test_the_summary_table_holds_no_measurement_of_the_machine_which_the_timing_table_does():
    """An identical rerun on another machine (or a run restored from a DVC cache) changes a run's training time
    and hardware: they go to reports/timing.md, so summary.md and summary.csv stay the same."""
    metrics = {"parameters": 1000, "flops_per_image": 2e6, "test_accuracy": 0.5, "test_accuracy_std": None,
               "seeds": [0], "epochs": 1, "train_images": 10, "test_images": 10, "train_seconds": 1234.0,
               "provenance": {"hardware": "a test CPU", "device": "cpu", "profile": "smoke"}}
    results = [StageResult("1", "a model", metrics, {})]
    shown = table(results).to_markdown(index=False) + csv_table(results).to_csv(index=False)
    assert "1,234" not in shown and "1234" not in shown and "a test CPU" not in shown
    assert timing_report.stage_table(results).iloc[0].to_dict() == {
        "stage": "1", "model": "a model", "train time / run": "1,234 s", "hardware": "a test CPU (cpu)"}
    assert timing_report.csv_table(results).to_dict("records") == [{"stage": "stage 1", "train_seconds": 1234.0}]
