"""The study at a glance: one table with every stage's model, size, cost and test accuracy, and a figure of
validation accuracy per epoch for the best run of each stage (chosen on validation accuracy, never test).

The table goes to the top of reports/report.md, to reports/summary.md and reports/tables/summary.csv;
`python -m cifar10_study.summary --readme` copies reports/summary.md into README.md between markers, so
the README shows generated numbers (tests/test_summary.py checks that it is in sync).
"""
from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import plots
from ..core.errors import StudyError
from ..core.fileio import atomic_path, read_json, write_text
from .formatting import mean_std, pct

FIGURE = Path("reports/figures/study_val_accuracy.png")
TABLE_CSV, TABLE_MD = Path("reports/tables/summary.csv"), Path("reports/summary.md")
README_START, README_END = "<!-- summary:start (generated: python -m cifar10_study.summary --readme) -->", "<!-- summary:end -->"


@dataclass(frozen=True)
class StageResult:
    stage: str
    model: str
    metrics: dict  # a run's metrics, or a train_seeds summary (accuracies as {"n", "mean", "std"})
    runs: dict[str, Path]  # every run of the stage: label -> history CSV, for picking the best by val acc


def best_stage2_variant(variants: pd.DataFrame) -> str:
    """The Stage 2 variant (plots/stage2_diagnostics/variants.csv) with the best final validation
    accuracy: chosen on validation, never on test."""
    return variants.loc[variants["final_val_accuracy"].idxmax(), "variant"]


def _single(path: str) -> dict:
    return read_json(Path("metrics") / f"{path}.json")


def _seeded_runs(name: str) -> dict[str, Path]:
    summary = _single(name)
    return {f"{name} seed {s}": Path("plots") / name / f"seed_{s}" / "history.csv" for s in summary["seeds"]}


def collect() -> list[StageResult]:
    """The stages whose metrics exist, in order (a partial pipeline gives a partial table)."""
    results = []
    if Path("metrics/stage1.json").is_file():
        results.append(StageResult("1", "baseline CNN", _single("stage1"), {"stage1": Path("plots/stage1/history.csv")}))
    variants = Path("plots/stage2_diagnostics/variants.csv")
    if variants.is_file():
        table = pd.read_csv(variants)
        best = best_stage2_variant(table)
        results.append(StageResult("2", f"scaled CNN, best variant by val acc: {best}", _single(f"stage2/{best}"),
                                   {f"stage2 {v}": Path(f"plots/stage2/{v}/history.csv") for v in table["variant"]}))
    if Path("metrics/stage3.json").is_file():
        runs = {"stage3": Path("plots/stage3/history.csv")}
        runs |= {f"stage3 {p.stem}": Path("plots/stage3_ablations") / p.stem / "history.csv"
                 for p in sorted(Path("metrics/stage3_ablations").glob("*.json"))}
        results.append(StageResult("3", "residual CNN + BN, dropout, label smoothing, weight decay", _single("stage3"), runs))
    if Path("metrics/stage4.json").is_file():
        results.append(StageResult("4", "ResNet-18", _single("stage4"), _seeded_runs("stage4")))
    if Path("metrics/stage5.json").is_file():
        runs = _seeded_runs("stage5")
        for p in sorted(Path("metrics/stage5_ablations").glob("*.json")):
            runs |= _seeded_runs(f"stage5_ablations/{p.stem}")
        results.append(StageResult("5", "SE-ResNet-18 + MixUp + Cutout", _single("stage5"), runs))
    return results


def _accuracy(metrics: dict) -> str:
    acc = metrics["test_accuracy"]
    return mean_std(acc) if isinstance(acc, dict) else f"{pct(acc)} (1 seed)"


def _mean(value) -> float:
    return value["mean"] if isinstance(value, dict) else value


def table(results: list[StageResult]) -> pd.DataFrame:
    return pd.DataFrame([{
        "stage": r.stage, "model": r.model, "params": f"{r.metrics['params']:,}",
        "FLOPs/image": f"{r.metrics['flops_per_image'] / 1e6:,.1f} M", "test accuracy": _accuracy(r.metrics),
        "train time / run": f"{_mean(r.metrics['train_seconds']):,.0f} s",
        "epochs x train images": f"{r.metrics['epochs']} x {r.metrics['train_images']:,}",
        "test images": f"{r.metrics['test_images']:,}",
        "hardware": f"{r.metrics['provenance']['hardware']} ({r.metrics['provenance']['device']})",
        "profile": r.metrics["provenance"]["profile"],
    } for r in results])


def csv_table(results: list[StageResult]) -> pd.DataFrame:
    """Numbers, not text: what `dvc plots` compares across experiments."""
    return pd.DataFrame([{"stage": f"stage {r.stage}", "params": r.metrics["params"],
                          "test_accuracy": _mean(r.metrics["test_accuracy"]),
                          "train_seconds": _mean(r.metrics["train_seconds"])} for r in results])


def best_histories(results: list[StageResult]) -> dict[str, pd.DataFrame]:
    """Per stage, the history of its run with the highest final validation accuracy."""
    best = {}
    for r in results:
        histories = {label: pd.read_csv(path) for label, path in r.runs.items()}
        label = max(histories, key=lambda k: histories[k]["val_acc"].iloc[-1])
        best[f"Stage {r.stage}: {label}"] = histories[label]
    return best


def write(results: list[StageResult]) -> str:
    """Writes the CSV, the Markdown table and the figure; returns the Markdown for the report's top."""
    markdown = table(results).to_markdown(index=False)
    with atomic_path(TABLE_CSV) as tmp:
        csv_table(results).to_csv(tmp, index=False)
    write_text(TABLE_MD, markdown + "\n")
    profile = results[0].metrics["provenance"]["profile"]
    curves = pd.DataFrame({label: h.set_index("epoch")["val_acc"] for label, h in best_histories(results).items()})
    plots.epoch_curves(curves, FIGURE, f"Best run of each stage, by final validation accuracy ({profile} profile)")
    return markdown


def sync_readme(readme: Path = Path("README.md"), summary: Path = TABLE_MD) -> None:
    """Replace the README's block between the summary markers with reports/summary.md."""
    text, table_md = readme.read_text(), summary.read_text().strip()
    pattern = re.compile(re.escape(README_START) + ".*?" + re.escape(README_END), re.S)
    if not pattern.search(text):
        raise StudyError(f"{readme}: no summary markers ({README_START} ... {README_END}); add them where the table goes")
    write_text(readme, pattern.sub(lambda _: f"{README_START}\n{table_md}\n{README_END}", text))


def readme_block(readme: Path = Path("README.md")) -> str:
    text = readme.read_text()
    return text.split(README_START, 1)[1].split(README_END, 1)[0].strip()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Copy reports/summary.md into README.md")
    parser.add_argument("--readme", action="store_true", required=True)
    parser.parse_args()
    sync_readme()
