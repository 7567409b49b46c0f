"""What this project's data costs in accuracy, against a published anchor: airbench's reference trainings
(KellerJordan/cifar10-airbench, PyPI `airbench` 0.1.8), run on the data the study trains on, compared with
the means airbench publishes for the official CIFAR-10.

    python benchmarks/airbench_calibration.py ARCHIVE OUT.json [--runs94 5] [--runs96 2] [--deadline UNIX_SECONDS]

CUDA only (airbench times and trains on the GPU); without CUDA it prints one line and exits 1. It writes the
data as airbench reads it (tools/airbench_data.py, into a temporary folder's `cifar10/`), then trains
airbench94 `--runs94` times after one warm-up run that is not counted (compile and cuDNN autotuning), then
airbench96 `--runs96` times (after its own warm-up) while the deadline leaves time for another run, each
evaluated as airbench evaluates it (test-time augmentation at the level its recipe sets). OUT.json is
rewritten after every run, so a cut-off run keeps what it measured: each run's test accuracy and seconds,
their mean and std, the published mean and the difference (published minus measured).

What the difference is: the penalty of this data (the JPEG stand-in, if that is the archive) for one model
family, airbench's; it is not an exact correction for ResNet-18 or for any other network of the study.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from airbench_data import write_airbench_data  # noqa: E402  (tools/airbench_data.py, not part of the package)

from cifar10_study.core.errors import StudyError  # noqa: E402

# Published means over many runs on the official CIFAR-10 (airbench's README: A100, 3.83 s and 46.3 s a run).
PUBLISHED = {"airbench94": 94.01, "airbench96": 96.05}


def summarize(accuracies: list[float], published: float) -> dict:
    """Accuracies in percent -> n, mean, std (sample; None with one run), and published minus mean."""
    if not accuracies:
        return {"n": 0, "mean": None, "std": None, "published_mean": published, "difference": None}
    mean = statistics.fmean(accuracies)
    return {"n": len(accuracies), "mean": round(mean, 3),
            "std": round(statistics.stdev(accuracies), 3) if len(accuracies) > 1 else None,
            "published_mean": published, "difference": round(published - mean, 3)}


def _train_and_evaluate(airbench, variant: str, run: int) -> tuple[float, float]:
    """One airbench training run -> (test accuracy in percent, seconds). run=-1 is airbench's warm-up."""
    lib = getattr(airbench, f"lib_{variant}")
    start = time.perf_counter()
    model = getattr(airbench, f"train{variant[-2:]}")(run=run, verbose=False)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    if run < 0:
        return float("nan"), seconds
    test_loader = airbench.CifarLoader("cifar10", train=False, batch_size=2000)
    return 100 * airbench.evaluate(model, test_loader, tta_level=lib.hyp["net"]["tta_level"]), seconds


def calibrate(archive: Path, out: Path, runs: dict[str, int], deadline: float) -> dict:
    import airbench  # carried to the GPU machine as a wheel (docs/gpu.md)

    record = {"archive": str(archive), "gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
              "python": platform.python_version(), "airbench": getattr(airbench, "__version__", "0.1.8"),
              "note": "published minus measured: this data's penalty for airbench's networks, not an exact "
                      "correction for the study's ResNet-18", "runs": {}}
    workdir = Path(tempfile.mkdtemp(prefix="airbench-"))
    write_airbench_data(archive, workdir / "cifar10")
    cwd = os.getcwd()
    os.chdir(workdir)  # airbench's train94()/train96() read the relative folder `cifar10`
    try:
        for variant, wanted in runs.items():
            measured = record["runs"][variant] = {"accuracy": [], "seconds": [], "warmup_seconds": None}
            record[variant] = summarize([], PUBLISHED[variant])
            if wanted == 0 or time.time() >= deadline:
                continue
            measured["warmup_seconds"] = round(_train_and_evaluate(airbench, variant, -1)[1], 2)
            for run in range(wanted):
                last = measured["seconds"][-1] if measured["seconds"] else 0.0
                if time.time() + 1.2 * last >= deadline:
                    break
                accuracy, seconds = _train_and_evaluate(airbench, variant, run)
                measured["accuracy"].append(round(accuracy, 2))
                measured["seconds"].append(round(seconds, 2))
                record[variant] = summarize(measured["accuracy"], PUBLISHED[variant])
                out.write_text(json.dumps(record, indent=2) + "\n")
                print(f"airbench_calibration: {variant} run {run}: {accuracy:.2f}% in {seconds:.1f} s", flush=True)
            record[variant] = summarize(measured["accuracy"], PUBLISHED[variant])
    finally:
        os.chdir(cwd)
    out.write_text(json.dumps(record, indent=2) + "\n")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("archive", type=Path, help="cifar-10-python.tar.gz (or its folder) in the official layout")
    parser.add_argument("out", type=Path, help="the JSON file to write")
    parser.add_argument("--runs94", type=int, default=5)
    parser.add_argument("--runs96", type=int, default=2)
    parser.add_argument("--deadline", type=float, default=float("inf"), help="stop starting runs after this time")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("airbench_calibration: no CUDA device (airbench trains on the GPU only); run it on a GPU machine",
              file=sys.stderr)
        return 1
    try:
        record = calibrate(args.archive, args.out, {"airbench94": args.runs94, "airbench96": args.runs96},
                           args.deadline)
    except (StudyError, ImportError) as exc:  # a bad archive, or no airbench wheel installed
        print(f"airbench_calibration: {exc}", file=sys.stderr)
        return 2
    for variant in ("airbench94", "airbench96"):
        s = record.get(variant)
        if s and s["n"]:
            print(f"airbench_calibration: on this data {variant} reaches {s['mean']:.2f}% over {s['n']} run(s) "
                  f"against its published {s['published_mean']:.2f}% (difference {s['difference']:+.2f} points)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
