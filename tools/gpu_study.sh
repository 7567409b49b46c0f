#!/usr/bin/env bash
# tools/gpu_study.sh OUT_DIR [STAGE...]: the study's own pipeline, `dvc repro`, on a GPU machine without
# network or DVC (Python 3.12 with its own torch), and what it produced written back in a few files.
#
#   bash tools/gpu_study.sh OUT_DIR
#
# .whl/ and .gpu-data/ come from `python tools/device_bundle.py`, run beforehand on a machine with network
# (the wheels the GPU machine lacks, airbench's among them, and the JPEG stand-in); they travel with the
# working tree. Steps: install the wheels into a temporary folder
# (skipped where DVC already imports, as in the CPU dry run); make `python` resolve (stage commands say
# `python`; the machine has only `python3`); build the stand-in archive if data/raw has none; make the tree a
# git repository if it arrived without one; set params.yaml's profile (GPU_STUDY_PROFILE, default preview)
# and data.source; `dvc repro` (of STAGE... if given, e.g. `stage4@seed_0 stage5@seed_0` at the full
# profile) within GPU_STUDY_BUDGET_S seconds (default 480; if it is cut off or fails, the report of the runs
# that finished is written outside DVC); then, if the airbench wheel is there and time is left, the data
# calibration (benchmarks/airbench_calibration.py, GPU_STUDY_CALIBRATION_S, default 90).
# Named runs several at once: GPU_STUDY_CONCURRENT=K (with STAGE...) hands the stages out to K workers that
# train at the same time on the one GPU (scaleout/local_gpus.sh with LOCAL_GPUS=1: a git worktree each, one
# shared DVC cache), then `dvc repro STAGE...` here restores them; the workers' logs are appended to the log,
# and a run that finished in a worker travels back even if another worker failed or the budget ran out.
#   GPU_STUDY_PROFILE=full GPU_STUDY_CONCURRENT=2 GPU_STUDY_BUDGET_S=560 \
#     bash tools/gpu_study.sh OUT_DIR stage4@seed_0 stage5@seed_0
# Written to OUT_DIR, at most 8 files:
#   study.tar.gz        the runs' small files (results, info, timing, history, predictions, steps, the stages'
#                       records; no weights; with STAGE..., only those stages' runs as this call wrote them),
#                       dvc.lock, params.yaml and, when the whole pipeline ran, metrics/, plots/ and reports/
#   summary.md          reports/summary.md, to read without unpacking (whole pipeline only)
#   environment.json    GPU, driver, torch, CUDA, the profile and stages run, exit status and wall times, and
#                       each ResNet-18 run's steady epoch time (also printed)
#   gpu_study.log       everything printed, DVC's output included
#   airbench_calibration.json   when the calibration ran
# GPU_STUDY_DEVICE=cpu (with GPU_STUDY_PROFILE=smoke) is the CPU dry run the tests make of this same script.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: tools/gpu_study.sh OUT_DIR [STAGE...]}
shift
PY=${PYTHON:-python3}
PROFILE=${GPU_STUDY_PROFILE:-preview}
DEVICE=${GPU_STUDY_DEVICE:-cuda}
BUDGET=${GPU_STUDY_BUDGET_S:-480}
CONCURRENT=${GPU_STUDY_CONCURRENT:-1}
start=$(date +%s)
deadline=$(( start + BUDGET ))
if [ "$DEVICE" = cuda ] && ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1; then
  echo "gpu_study: no CUDA device visible to $PY; run it on a machine with an NVIDIA GPU (GPU_STUDY_DEVICE=cpu: the dry run)" >&2
  exit 1
fi
mkdir -p "$OUT"
LOG="$OUT/gpu_study.log"
: >"$LOG"
say() { echo "gpu_study: $*" | tee -a "$LOG"; }

# 1. What the machine lacks, from the carried wheels.
if ! "$PY" -c 'import dvc, pydantic, ruamel.yaml' >/dev/null 2>&1; then
  if ! compgen -G ".whl/*.whl" >/dev/null; then
    say "$PY lacks DVC / pydantic / ruamel.yaml and there is no .whl/ folder: run python tools/device_bundle.py on a machine with network first"
    exit 1
  fi
  site=$(mktemp -d)
  "$PY" -m pip install -q --no-index --no-deps --target "$site" .whl/*.whl >>"$LOG" 2>&1 || { say "installing .whl/ failed"; exit 1; }
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}" PATH="$site/bin:$PATH"
  "$PY" -m pip check >>"$LOG" 2>&1 || say "pip check reports conflicts (see the log); going on"
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
# 2. `python` for the stage commands (DVC itself runs as this interpreter's module).
if ! command -v python >/dev/null 2>&1; then
  shim=$(mktemp -d)
  ln -s "$(command -v "$PY")" "$shim/python"
  export PATH="$shim:$PATH"
fi

# 3. Data: the archive the study reads, built from the carried stand-in if missing.
ARCHIVE=data/raw/cifar-10-python.tar.gz
if [ ! -f "$ARCHIVE" ]; then
  stand_in=$(for d in .gpu-data ../shared/data; do [ -f "$d/cifar10-jpeg.tar.gz" ] && echo "$d" && break; done)
  [ -n "$stand_in" ] || { say "no $ARCHIVE and no stand-in (cifar10-jpeg.tar.gz) in .gpu-data/ or ../shared/data/"; exit 1; }
  say "building $ARCHIVE from $stand_in"
  "$PY" "$stand_in/make_cifar10_archive.py" "$ARCHIVE" >>"$LOG" 2>&1 || { say "building the archive failed"; exit 1; }
fi

# 4. DVC wants a git repository; the machine may receive the tree without one.
if [ ! -d .git ]; then
  git init -q && git add -A >/dev/null 2>&1 && git -c user.name=gpu -c user.email=gpu@localhost commit -qm device ||
    { say "making a git repository failed"; exit 1; }
fi

# 5. The run's params, then the pipeline.
"$PY" - "$PROFILE" "$ARCHIVE" "$DEVICE" <<'EOF' >>"$LOG" 2>&1 || { say "setting params.yaml failed"; exit 1; }
import sys
from ruamel.yaml import YAML
yaml = YAML()  # round-trip, as `dvc exp run -S` edits it
doc = yaml.load(open("params.yaml"))
doc["profile"], doc["data"]["source"], doc["runtime"]["device"] = sys.argv[1], sys.argv[2], sys.argv[3]
yaml.dump(doc, open("params.yaml", "w"))
EOF
calibration_s=0
if [ "$DEVICE" = cuda ] && "$PY" -c 'import airbench' >/dev/null 2>&1; then calibration_s=${GPU_STUDY_CALIBRATION_S:-90}; fi
report_s=30  # kept for a report of what finished, should the pipeline not
left=$(( deadline - calibration_s - report_s - $(date +%s) ))
[ "$left" -gt 0 ] || left=1  # `timeout 0` would mean no limit
trees=""
workers=1
if [ "$CONCURRENT" -gt 1 ] && [ $# -gt 1 ]; then
  worker_tree() { echo "$(dirname "$PWD")/$(basename "$PWD")-worker-$1"; }  # local_gpus.sh's worktrees
  say "dvc repro of $* at profile $PROFILE on $DEVICE, up to $CONCURRENT at once (scaleout/local_gpus.sh), ${left} s left"
  LOCAL_GPUS=1 timeout -k 10 "$left" bash scaleout/local_gpus.sh "$CONCURRENT" "$@" >>"$LOG" 2>&1
  status=$?
  workers=0
  for k in $(seq 0 $((CONCURRENT - 1))); do
    tree=$(worker_tree "$k")
    # local_gpus.sh removes its trees' old logs first, so a log is this call's; a worker with no stage to run
    # (K > the stages) never starts
    [ -f "$tree/worker.log" ] || continue
    trees="$trees $tree"
    workers=$((workers + 1))
    { echo "--- $tree/worker.log"; cat "$tree/worker.log"; } >>"$LOG"
  done
else
  say "dvc repro ${*:-(every stage)} at profile $PROFILE on $DEVICE, ${left} s left"
  timeout -k 10 "$left" "$PY" -m dvc repro "$@" >>"$LOG" 2>&1
  status=$?
fi
repro_s=$(( $(date +%s) - start ))
say "dvc repro finished with status $status after ${repro_s} s"
if [ "$status" -ne 0 ] && [ $# -eq 0 ]; then  # cut off or failed: the report stage reads whatever runs are complete
  say "writing the report of the runs that finished (python stages/report.py, outside DVC)"
  timeout -k 5 "$report_s" python stages/report.py >>"$LOG" 2>&1 || say "the report could not be written"
fi
if [ "$calibration_s" -gt 0 ] && [ $(( deadline - $(date +%s) )) -gt 30 ]; then
  "$PY" benchmarks/airbench_calibration.py "$ARCHIVE" "$OUT/airbench_calibration.json" --deadline "$deadline" 2>&1 | tee -a "$LOG"
fi

# 6. What comes back: the small files, packed.
"$PY" - "$OUT" "$PROFILE" "$DEVICE" "$status" "$repro_s" "$*" "$workers" "$trees" "$start" <<'EOF' 2>&1 | tee -a "$LOG"
import json, subprocess, sys, tarfile
from pathlib import Path
out, profile, device, status, repro_s, stages, concurrent, trees, started = sys.argv[1:]
named = stages.split()  # empty: the whole pipeline ran
SMALL = {"results.json", "info.json", "timing.json", "history.csv", "predictions.csv", "steps.csv",
         "experiment.json", "grad_norms.csv", "widths.csv", "skipped.json"}
packed = {}  # name in the archive -> file


def pack_runs(root: Path, folder: str) -> None:
    """The small files of the run folder `folder` (as dvc.yaml names it) under `root`, named as in a checkout."""
    for path in sorted((root / folder).rglob("*")):
        if path.name in SMALL and path.is_file():
            packed[str(path.relative_to(root))] = path


if not named:  # the whole pipeline: everything it wrote here
    for top in ("metrics", "plots", "reports"):
        packed |= {str(path): path for path in sorted(Path(top).rglob("*")) if path.is_file()}
    pack_runs(Path("."), "runs")
else:
    # Named runs: only their own output folders (the tree's other runs and its committed metrics and report,
    # another profile's or machine's, must not pass for this set's), and only a copy this call wrote (its
    # completion marker, written last, no older than the call's start): a worker's, with its timing.json,
    # else this checkout's, which the final `dvc repro` restores once every worker has finished.
    from dvc.repo import Repo
    with Repo(".") as repo:
        folders = [o.def_path for name in named for stage in repo.stage.collect(name) for o in stage.outs]
    written_now = lambda path: path.is_file() and path.stat().st_mtime >= float(started)
    for folder in folders:
        for root in [*map(Path, trees.split()), Path(".")]:
            if any(written_now(root / folder / marker) for marker in ("results.json", "experiment.json")):
                pack_runs(root, folder)
                break
packed |= {name: Path(name) for name in ("dvc.lock", "params.yaml") if Path(name).is_file()}
with tarfile.open(Path(out) / "study.tar.gz", "w:gz") as tar:
    for name in sorted(packed):
        tar.add(packed[name], arcname=name)
members = list(packed)
if not named and Path("reports/summary.md").is_file():
    (Path(out) / "summary.md").write_text(Path("reports/summary.md").read_text())
# The steady epoch of every ResNet-18 run that trained here (timing.json exists only where a run trained),
# printed and recorded: the figure that says what the engine's per-step work costs on this GPU.
epochs = {}
for name in sorted(n for n in packed if n.endswith("/timing.json") and n.startswith(("runs/stage4/", "runs/stage5"))):
    run = name.removeprefix("runs/").removesuffix("/timing.json")
    timing = json.loads(packed[name].read_text())
    info = packed.get(name.replace("timing.json", "info.json"))
    batch = json.loads(info.read_text())["config"]["train"]["batch_size"] if info else None
    images = timing["images_per_second"] * timing["steady_epoch_seconds"] if timing.get("steady_epoch_seconds") else None
    epochs[run] = {"steady_epoch_seconds": timing.get("steady_epoch_seconds"), "batch_size": batch,
                   "images_per_epoch": round(images) if images else None, "warmup_seconds": timing.get("warmup_seconds")}
    if images:
        print(f"gpu_study: {run}: steady epoch {timing['steady_epoch_seconds']:.3f} s ({round(images):,} images at "
              f"batch {batch}), warm-up {timing.get('warmup_seconds') or 0:.1f} s")
env = {"profile": profile, "device": device, "stages": named or "all", "concurrent": int(concurrent),
       "dvc_repro_status": int(status), "dvc_repro_seconds": int(repro_s), "files_packed": len(members),
       "resnet_epochs": epochs}
try:
    import torch
    env |= {"torch": torch.__version__, "cuda": torch.version.cuda,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                         capture_output=True, text=True)
    env["nvidia_smi"] = smi.stdout.strip() or None
except (ImportError, OSError):
    pass
(Path(out) / "environment.json").write_text(json.dumps(env, indent=2) + "\n")
print(f"gpu_study: packed {len(members)} files into {out}/study.tar.gz")
EOF
say "finished with status $status; results in $OUT"
exit "$status"
