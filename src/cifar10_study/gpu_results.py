"""The README's GPU results, generated from the sets that `tools/gpu_study.sh` returned and that are
committed unchanged under benchmarks/results/<date>-<gpu>-<profile or runs>/ (each holds study.tar.gz and
environment.json, and summary.md if the whole pipeline ran), so that nothing in it is typed by hand.

    python -m cifar10_study.gpu_results            # print the block
    python -m cifar10_study.gpu_results --readme   # write it into README.md between its markers (./run.sh readme)

Per set: the GPU, the profile and the stages run (and how many at once), DVC's exit status and time, what
data the runs read (from a run's info.json), then the set's own table: for the whole pipeline the report's
summary (stage, model, test accuracy with seeds, epochs x images, hardware, time per run), for named runs
one row per run from its results.json and timing.json (test accuracy, epochs x images, steady epoch,
training time). Then what is still missing of the full study: how many of
its ResNet-18 runs (params.yaml's full-profile seeds x Stage 4, Stage 5 and its ablations) any full-profile
set holds.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tarfile
from pathlib import Path

from .analysis.stage45_results import pipeline_check
from .core.cli import command_entry
from .core.params_file import read_params_file

# Paths from the repository root, where ./run.sh runs it (as every entry point's paths are).
RESULTS, README = Path("benchmarks/results"), Path("README.md")
START, END = "<!-- gpu-results:start (generated: ./run.sh readme) -->", "<!-- gpu-results:end -->"
RESNET_RUNS = ("stage4", "stage5", "stage5_ablations/no_se", "stage5_ablations/no_mixup", "stage5_ablations/no_cutout")
SET_FILES = ("environment.json", "study.tar.gz")  # and summary.md from a whole-pipeline run


def study_sets(results: Path = RESULTS) -> list[Path]:
    """The returned sets of tools/gpu_study.sh, oldest first (their folders start with the date)."""
    return sorted(d for d in results.iterdir() if d.is_dir() and all((d / f).is_file() for f in SET_FILES)) \
        if results.is_dir() else []


def _members(study: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(study / "study.tar.gz") as tar:
        return {m.name: m for m in tar.getmembers()}


def _read(study: Path, name: str) -> dict:
    with tarfile.open(study / "study.tar.gz") as tar:
        return json.load(tar.extractfile(name))


def trained_runs(study: Path) -> list[str]:
    """The runs of a set that trained (a results.json), e.g. `stage4/seed_0`."""
    return sorted(name.removeprefix("runs/").removesuffix("/results.json") for name in _members(study)
                  if name.startswith("runs/") and name.endswith("/results.json"))


def _data(study: Path) -> str:
    infos = sorted(n for n in _members(study) if n.startswith("runs/") and n.endswith("/info.json"))
    if not infos:
        return "no run finished"
    official = _read(study, infos[0])["provenance"]["data_official"]
    return "the official CIFAR-10" if official else "not the official archive (the JPEG stand-in)"


def runs_table(study: Path) -> str:
    """A named-run set's own table, from its runs' files: test accuracy, schedule, steady epoch, training time."""
    names = _members(study)
    rows = ["| run | test accuracy (final epoch) | epochs x training images | steady epoch | training time |",
            "| --- | --- | --- | --- | --- |"]
    for run in trained_runs(study):
        result = _read(study, f"runs/{run}/results.json")
        timing = _read(study, f"runs/{run}/timing.json") if f"runs/{run}/timing.json" in names else {}
        epoch = f"{timing['steady_epoch_seconds']:.2f} s" if timing.get("steady_epoch_seconds") else "n/a"
        train = f"{timing['train_seconds'] / 60:.1f} min" if "train_seconds" in timing else "n/a"
        rows.append(f"| `{run}` | {100 * result['test_accuracy']:.2f}% | {result['epochs']} x "
                    f"{result['train_images']:,} | {epoch} | {train} |")
    return "\n".join(rows) if len(rows) > 2 else "No run finished."


def describe(study: Path) -> str:
    """A set's header line and its own table: the report's summary for the whole pipeline, else its runs'."""
    env = json.loads((study / "environment.json").read_text())
    whole = env["stages"] == "all"
    stages = "every stage" if whole else ", ".join(f"`{s}`" for s in env["stages"])
    at_once = f", {env['concurrent']} at once" if env.get("concurrent", 1) > 1 else ""
    summary = study / "summary.md"
    table = summary.read_text().strip() if whole and summary.is_file() else runs_table(study)
    check = " (Stages 4-5: a pipeline check, no verdict)" if pipeline_check(env["profile"]) else ""
    return (f"**`{study.name}`**: {env.get('gpu') or env['device']}, profile `{env['profile']}`{check}, "
            f"{stages}{at_once}; "
            f"`dvc repro` exited {env['dvc_repro_status']} after {env['dvc_repro_seconds']} s; data: "
            f"{_data(study)}.\n\n{table}")


def full_resnet_runs(params: dict) -> list[str]:
    """The full study's ResNet-18 runs, e.g. `stage5_ablations/no_se/seed_2`."""
    seeds = [seed for seed, profiles in params["stage4"]["seeds"].items() if "full" in profiles]
    return [f"{run}/{seed}" for run in RESNET_RUNS for seed in seeds]


def missing(sets: list[Path], params: dict) -> str:
    wanted = full_resnet_runs(params)
    done = {run for s in sets if json.loads((s / "environment.json").read_text())["profile"] == "full"
            for run in trained_runs(s)}
    have = [run for run in wanted if run in done]
    return (f"Of the full study's {len(wanted)} ResNet-18 runs (200 epochs; Stage 4, Stage 5 and its ablations "
            f"for each full-profile seed), {len(have)} have run on a GPU" + (f": {', '.join(have)}." if have else "."))


def block(results: Path = RESULTS, params: dict | None = None) -> str:
    params = params if params is not None else read_params_file()
    sets = study_sets(results)
    if not sets:
        return ("No GPU run of the pipeline has been returned yet (a set comes from `tools/gpu_study.sh` on a GPU "
                "machine without network or DVC, [gpu.md](docs/gpu.md)). " + missing([], params))
    return "\n\n".join([*(describe(s) for s in sets), missing(sets, params)])


def sync_readme(readme: Path = README, text: str | None = None) -> None:
    content = readme.read_text()
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    if not pattern.search(content):
        raise SystemExit(f"{readme}: no GPU results markers ({START} ... {END}); add them where the block goes")
    readme.write_text(pattern.sub(lambda _: f"{START}\n{block() if text is None else text}\n{END}", content))


def readme_block(readme: Path = README) -> str:
    return readme.read_text().split(START, 1)[1].split(END, 1)[0].strip()


@command_entry
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readme", action="store_true", help="write the block into README.md")
    args = parser.parse_args(argv)
    if args.readme:
        sync_readme()
    else:
        print(block())
    return 0


if __name__ == "__main__":
    sys.exit(main())
