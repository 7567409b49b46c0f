#!/usr/bin/env bash
# scaleout/local_gpus.sh N: this checkout's training stages on N GPUs of this machine, one worker per GPU
# (CUDA_VISIBLE_DEVICES=k), each in its own git worktree beside this checkout (DVC locks a repository, so
# one checkout runs one `dvc repro` at a time), all sharing this checkout's DVC cache: a stage one worker
# trains, the others and this checkout restore from the run cache without copying. Then `dvc repro` here
# restores every training stage and runs only the analysis and the report.
#
# Commit params.yaml and dvc.yaml first (a worktree sees the committed tree). Each worker logs to
# <worktree>/worker.log; the worktrees stay for the next call (`git worktree remove` them when done).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:?usage: scaleout/local_gpus.sh N_GPUS}
[ -z "$(git status --porcelain --untracked-files=no -- params.yaml dvc.yaml)" ] ||
  { echo "local_gpus: commit params.yaml and dvc.yaml first (the worktrees see the committed tree)" >&2; exit 2; }
cache=$(dvc cache dir)
dvc repro download  # the prepared data once, here; the workers restore it from the shared cache
pids=()
for k in $(seq 0 $((n - 1))); do
  mapfile -t stages < <(python -m cifar10_study.experiments.stage_list --workers "$n" --worker "$k")
  [ ${#stages[@]} -gt 0 ] || continue
  tree=$(dirname "$PWD")/$(basename "$PWD")-worker-$k
  [ -d "$tree" ] || git worktree add --quiet --detach "$tree" HEAD
  git -C "$tree" checkout --quiet --detach "$(git rev-parse HEAD)"
  ( cd "$tree" && dvc cache dir --local "$cache" && CUDA_VISIBLE_DEVICES=$k dvc repro "${stages[@]}" ) \
    > "$tree/worker.log" 2>&1 &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
[ $status -eq 0 ] || { echo "local_gpus: a worker failed; see ../$(basename "$PWD")-worker-*/worker.log" >&2; exit 1; }
dvc repro
