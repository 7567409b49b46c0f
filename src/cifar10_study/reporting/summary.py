"""The study at a glance: one table with every stage's model, size, FLOPs, test accuracy and, for Stages 4-5,
the verdict (Stage 4 against the reproduction target, Stage 5 against Stage 4; "n/a (<profile>: pipeline
check)" at a profile whose Stages 4-5 only check the pipeline), and a figure of validation accuracy per epoch
for the best run of each stage (chosen on validation accuracy, never test).

The table goes to the top of reports/report.md, to reports/summary.md and reports/tables/summary.csv; each
stage's training time and hardware, which the machine measured, go to reports/timing.md instead
(timing_report.py), so the table is the same after any identical rerun. `./run.sh readme`
(`python -m cifar10_study.reporting.summary --readme`) copies reports/summary.md into README.md between
markers, so the README shows generated numbers (tests/unit/test_summary.py checks that the committed README
matches the committed report). Experiments never rewrite the README: refreshing it is an explicit step, for
results meant to be committed.
"""
from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..analysis.comparisons import SeededRuns
from ..analysis.stage2_results import best_variant
from ..analysis.stage3_results import configurations
from ..analysis.stage45_results import (
    TARGET_ACCURACY,
    Stage5Results,
    no_verdict,
    pipeline_check,
    profile_of,
    reaches_target,
    verdict_withheld,
)
from ..core.errors import StudyError
from ..core.fileio import write_text
from ..core.layout import STAGE1, variant_run
from .comparison_wording import test_name
from .formatting import accuracy_over_seeds, mean_std, pct
from .study import Study

TABLE_CSV, TABLE_MD = Path("reports/tables/summary.csv"), Path("reports/summary.md")
README_START = "<!-- summary:start (generated: ./run.sh readme) -->"
README_END = "<!-- summary:end -->"


@dataclass(frozen=True)
class StageResult:
    stage: str
    model: str
    # a configuration's mean record over seeds (Stages 1-3), or its summary over seeds (accuracies as {"n", "mean",
    # "std"}: Stages 4-5)
    metrics: dict
    histories: dict[str, pd.DataFrame]  # every run of the stage: label -> history, for picking the best by val acc
    verdict: str = ""  # what the stage's test says (Stages 4-5), or why it says nothing


def _seeded(runs: SeededRuns) -> dict[str, pd.DataFrame]:
    return {f"{runs.name} seed {seed}": h for seed, h in runs.histories.items()}


def stage4_verdict(runs: SeededRuns) -> str:
    """Stage 4's mean test accuracy against the reproduction target, or no verdict at a pipeline check."""
    if pipeline_check(profile_of(runs)):
        return no_verdict(profile_of(runs))
    reached = reaches_target(runs.summary["test_accuracy"]["mean"])
    return f"{'reaches' if reached else 'does not reach'} the {pct(TARGET_ACCURACY)} target"


def stage5_verdict(r: Stage5Results) -> str:
    """The primary test's verdict, Stage 5 against Stage 4, with its test and p (as it stands at a pipeline
    check: no verdict)."""
    c = r.primary
    if verdict_withheld(c["verdict"]):
        return c["verdict"]
    against = "from Stage 4" if c["verdict"] == "no significant difference" else "than Stage 4"
    return f"{c['verdict']} {against} ({test_name(c)} p {c['p_value']:.2g})"


def collect(study: Study) -> list[StageResult]:
    """The stages whose runs are all there, in order (a partial pipeline gives a partial table)."""
    results = [StageResult("1", "baseline CNN", study.baseline, {STAGE1: study.histories[STAGE1]})]
    if study.variants is not None:
        best = best_variant(study.variants)
        results.append(StageResult(
            "2", f"scaled CNN, best variant by val acc: {best}", study.records[variant_run(best)],
            {f"stage2 {v}": h for v, h in study.stage2.histories.items()}))
    if "stage3" in study.done:
        runs = configurations()
        results.append(StageResult("3", "residual CNN + BN, dropout, label smoothing, weight decay",
                                   study.records[runs["stage3"]],
                                   {label: study.histories[run] for label, run in runs.items()}))
    if study.stage4 is not None:
        results.append(StageResult("4", "ResNet-18", study.stage4.summary, _seeded(study.stage4),
                                   stage4_verdict(study.stage4)))
    if study.stage5 is not None:
        histories = {}
        for runs in study.stage5.configurations.values():
            histories |= _seeded(runs)
        results.append(StageResult("5", "SE-ResNet-18 + MixUp + Cutout", study.stage5.full.summary, histories,
                                   stage5_verdict(study.stage5)))
    return results


def _accuracy(metrics: dict) -> str:
    """Over seeds, from a configuration's summary (Stages 4-5) or its mean record (Stages 1-3)."""
    acc = metrics["test_accuracy"]
    return mean_std(acc) if isinstance(acc, dict) else accuracy_over_seeds(metrics)


def mean(value) -> float | None:
    """A summary's mean over seeds, a single run's value as it is (None: not recorded)."""
    return value["mean"] if isinstance(value, dict) else value


def table(results: list[StageResult]) -> pd.DataFrame:
    return pd.DataFrame([{
        "stage": r.stage, "model": r.model, "params": f"{r.metrics['parameters']:,}",
        "FLOPs/image": f"{r.metrics['flops_per_image'] / 1e6:,.1f} M", "test accuracy": _accuracy(r.metrics),
        "verdict": r.verdict,
        "epochs x train images": f"{r.metrics['epochs']} x {r.metrics['train_images']:,}",
        "test images": f"{r.metrics['test_images']:,}", "device": r.metrics["provenance"]["device"],
        "profile": r.metrics["provenance"]["profile"],
    } for r in results])


def csv_table(results: list[StageResult]) -> pd.DataFrame:
    """Numbers, not text: what `dvc plots` compares across experiments."""
    return pd.DataFrame([{"stage": f"stage {r.stage}", "parameters": r.metrics["parameters"],
                          "test_accuracy": mean(r.metrics["test_accuracy"])} for r in results])


def budgets(results: list[StageResult]) -> str:
    """The training budgets, stated once: whether Stages 1-3 trained equal work (the same epochs on the
    same first images of the training split; a stage's variants and ablations share its recipe), and the
    budget of each later stage."""
    def budget(r: StageResult) -> str:
        return f"{r.metrics['epochs']} epochs on {r.metrics['train_images']:,} images"

    cnn = [r for r in results if r.stage in ("1", "2", "3")]
    others = [f"Stage {r.stage} trains {budget(r)}" for r in results if r not in cnn]
    if len({budget(r) for r in cnn}) == 1:
        text = (f"Stages {', '.join(r.stage for r in cnn)} (with Stage 2's variants and Stage 3's ablations, "
                f"which share their stage's recipe) each train {budget(cnn[0])}, the same images, so their rows "
                f"compare equal work.")
    else:
        text = ("Stages 1-3 train different budgets (" + "; ".join(f"Stage {r.stage}: {budget(r)}" for r in cnn)
                + "), so their rows do not compare equal work.")
    return text + (f" {'; '.join(others)}." if others else "")


def best_histories(results: list[StageResult]) -> dict[str, pd.DataFrame]:
    """Per stage, the history of its run with the highest final validation accuracy; a stage whose runs
    have no validation split (they trained on it) has no curve to show and is left out."""
    best = {}
    for r in results:
        validated = {k: h for k, h in r.histories.items() if h["val_acc"].notna().all()}
        if validated:
            label = max(validated, key=lambda k: validated[k]["val_acc"].iloc[-1])
            best[f"Stage {r.stage}: {label}"] = validated[label]
    return best


def markdown(results: list[StageResult]) -> str:
    """The summary table as Markdown: the report's top, reports/summary.md and the README's results."""
    return table(results).to_markdown(index=False)


def sync_readme(readme: Path = Path("README.md"), summary: Path = TABLE_MD) -> None:
    """Replace the README's block between the summary markers with reports/summary.md."""
    text, table_md = readme.read_text(), summary.read_text().strip()
    pattern = re.compile(re.escape(README_START) + ".*?" + re.escape(README_END), re.S)
    if not pattern.search(text):
        raise StudyError(f"{readme}: no summary markers ({README_START} ... {README_END}); "
                         "add them where the table goes")
    write_text(readme, pattern.sub(lambda _: f"{README_START}\n{table_md}\n{README_END}", text))


def readme_block(readme: Path = Path("README.md")) -> str:
    text = readme.read_text()
    return text.split(README_START, 1)[1].split(README_END, 1)[0].strip()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Copy reports/summary.md into README.md")
    parser.add_argument("--readme", action="store_true", required=True)
    parser.parse_args()
    sync_readme()
