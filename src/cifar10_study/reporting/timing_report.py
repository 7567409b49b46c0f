"""reports/timing.md and reports/tables/timing.csv: what the machine measured while the study trained (the
hardware, training and epoch times, images/s, peak memory, the explosion test's time and memory per width)
and the commit the report was written at. An identical rerun changes every one of them, so they stay out of
report.md and the other outputs DVC tracks (analysis/measurements.py states the rule); report.md links here.
Runs restored from a DVC cache or remote carry no timing.json, and read "not recorded"."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..analysis.comparisons import SeededRuns
from ..analysis.diagnostics import first_epoch_reaching
from ..analysis.stage2_results import COUNTED, StressTests, best_variant
from ..analysis.stage3_results import convergence
from .formatting import md, measured, mib
from .study import Study
from .summary import StageResult, mean

TIMING_MD, TIMING_CSV = Path("reports/timing.md"), Path("reports/tables/timing.csv")


def stage_table(results: list[StageResult]) -> pd.DataFrame:
    """Per stage: the training time of a run (mean over seeds) and the hardware it trained on."""
    return pd.DataFrame([{
        "stage": r.stage, "model": r.model, "train time / run": measured(mean(r.metrics["train_seconds"]), "{:,.0f} s"),
        "hardware": f"{measured(r.metrics['provenance']['hardware'], '{}')} ({r.metrics['provenance']['device']})",
    } for r in results])


def csv_table(results: list[StageResult]) -> pd.DataFrame:
    return pd.DataFrame([{"stage": f"stage {r.stage}", "train_seconds": mean(r.metrics["train_seconds"])}
                         for r in results])


def _code(code: dict) -> str:
    if code["git_commit"] is None:
        return "Written from a folder that is not a git checkout with a commit."
    return (f"Written at git commit `{code['git_commit']}`"
            + (" with uncommitted changes (during `dvc repro` that is usually dvc.lock)" if code["git_dirty"] else "")
            + "; each run's `timing.json` records the commit it was trained at.")


def _runs_table(records: dict[str, dict]) -> pd.DataFrame:
    return pd.DataFrame([{"run": name, "train time": measured(m["train_seconds"], "{:.0f} s"),
                          "images/s": measured(m["images_per_second"], "{:,.0f}"),
                          "peak memory": mib(m["peak_memory_bytes"])} for name, m in records.items()])


def _stage1(study: Study) -> list[str]:
    records = {"stage1 baseline": study.baseline}
    if study.experiments is not None:
        records |= study.experiments["runs"]
    return ["## Stage 1", "", md(_runs_table(records)), ""]


def _stage2(variants: pd.DataFrame) -> list[str]:
    kind = measured(variants["peak_memory_kind"].iloc[0], "{}").replace("_", " ")
    table = pd.DataFrame({"variant": variants["variant"],
                          "epoch time": variants["mean_epoch_seconds"].map(lambda x: measured(x, "{:.1f} s")),
                          "images/s": variants["images_per_second"].map(lambda x: measured(x, "{:,.0f}")),
                          "peak memory": variants["peak_memory_bytes"].map(mib)})
    return ["## Stage 2: width and depth scaling", "",
            f"Peak memory is {kind} (it includes the training images and the epoch's augmented copy; on CPU also "
            "the libraries).", "", md(table), ""]


def _explosion(stress: StressTests) -> list[str]:
    widths, e = stress.widths, stress.explosion
    if "seconds_per_step" not in widths:
        return ["## Parameter explosion", "", "Time and memory per step not recorded: the stage was restored from a "
                "DVC cache or remote, which keeps no timings.", ""]
    table = pd.DataFrame({"width": "x" + widths["width"].astype(str),
                          f"s/step (batch {e['measure_batch_size']})": widths["seconds_per_step"].map(
                              lambda x: "not run" if pd.isna(x) else f"{x:.3f}"),
                          "peak memory": widths["peak_memory_bytes"].map(mib)})
    fits = "; ".join(f"{name.replace('_', ' ')}: R² = {fit['r2']:.4f}"
                     for name, fit in e["fits"].items() if fit and name not in COUNTED)
    return ["## Parameter explosion", "", md(table), "",
            "![Measured cost against width](figures/timing/stage2_scaling.png)", "",
            f"Quadratic fits of the measured cost against width: {fits or 'too few points'}.", ""]


def _stage3(study: Study) -> list[str]:
    compared, target = convergence(best_variant(study.variants), study.baseline)
    rows = []
    for label, run in compared.items():
        epoch, seconds = first_epoch_reaching(study.histories[run], target)
        rows.append({"model": label, f"epochs to {100 * target:.2f}% val": epoch or "not reached",
                     "seconds to it": "" if epoch is None else measured(seconds, "{:.0f} s")})
    return ["## Stage 3: convergence", "", md(pd.DataFrame(rows)), "",
            "![Convergence against training time](figures/timing/convergence.png)", ""]


def training_time(s: dict) -> str:
    """How long a run of a configuration trained (mean over seeds) and on what, or why that is not known."""
    how = f"torch.compile mode {s['compile']['mode']}" if s["compiled"] else "eager, not compiled"
    if s["train_seconds"] is None or s["provenance"]["hardware"] is None:
        return (f"Training time not recorded: at least one of these runs was restored from a DVC cache or remote, "
                f"which keeps no timings ({s['provenance']['device']}; {how}).")
    seconds, fast = s["train_seconds"]["mean"], (s["images_per_second"] or {}).get("mean")
    return (f"Training took {seconds:.0f} s per run ({seconds / s['epochs']:.1f} s per epoch; "
            + measured(fast, "{:,.0f} images/s after the first epoch's warm-up")
            + f"; evaluation excluded) on {s['provenance']['hardware']} ({s['provenance']['device']}; {how}).")


def seeded_section(title: str, runs: SeededRuns) -> list[str]:
    """A seeded configuration's training time and each seed's mean epoch time."""
    epochs = pd.DataFrame([{"seed": seed, "epoch time": measured(h["epoch_seconds"].mean(), "{:.1f} s")}
                           for seed, h in runs.histories.items()])
    return [f"## {title}", "", training_time(runs.summary), "", md(epochs, numparse=False), ""]


def timing_report(study: Study, results: list[StageResult]) -> str:
    """reports/timing.md: the commit, the per-stage table, then each complete stage's measurements."""
    lines = ["# CIFAR-10 study: time and memory on this machine", "",
             "Generated by the `report` stage with report.md ([report.md](report.md)), from each run's `timing.json`. "
             "An identical rerun changes every number here, so DVC does not track this file (.dvcignore); git does.",
             "", _code(study.code), "", md(stage_table(results)), "", *_stage1(study)]
    if study.variants is not None:
        lines += _stage2(study.variants)
    if study.stress is not None:
        lines += _explosion(study.stress)
    if study.variants is not None and "stage3" in study.done:
        lines += _stage3(study)
    if study.stage4 is not None:
        lines += seeded_section("Stage 4: ResNet-18", study.stage4)
    if study.stage5 is not None:
        for name, runs in study.stage5.configurations.items():
            lines += seeded_section(f"Stage 5: {name}", runs)
    return "\n".join(lines)
