#!/usr/bin/env bash
# scaleout/local_gpus.sh N [STAGE...]: training stages on this machine's GPUs, N workers at once, each in its own
# git worktree beside this checkout (DVC locks a repository, so one checkout runs one `dvc repro` at a time), all
# sharing this checkout's DVC cache: a stage one worker trains, the others and this checkout restore from the
# run cache without copying. Then `dvc repro` here restores every trained stage and runs what is left.
#
#   STAGE...     the stages to hand out, in turn (default: every training stage the params train; either way
#                split by `python -m cifar10_study.experiments.stage_list`); the final `dvc repro` is of these stages
#                (default: the whole pipeline, i.e. the analysis and the report too)
#   LOCAL_GPUS   how many GPUs to spread the workers over (default N): worker k sees GPU k mod LOCAL_GPUS only
#                (CUDA_VISIBLE_DEVICES), so N > LOCAL_GPUS puts several runs on each GPU at once
#                (tools/gpu_study.sh's named runs: LOCAL_GPUS=1)
#
# The workers run this checkout's params.yaml (copied into each worktree) and the installed package, while DVC
# hashes each worktree's committed files: so commit dvc.yaml, src/ and stages/ first (new files too), or the
# run cache would miss here and every run train again. Each worker logs to <worktree>/worker.log; the worktrees
# stay for the next call (`git worktree remove` them when done).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:?usage: scaleout/local_gpus.sh N_WORKERS [STAGE...]}
shift
gpus=${LOCAL_GPUS:-$n}
[ -z "$(git status --porcelain -- dvc.yaml src stages)" ] ||
  { echo "local_gpus: commit dvc.yaml, src/ and stages/ first, new files too (the worktrees see the committed tree)" >&2; exit 2; }
command -v dvc >/dev/null || dvc() { "${PYTHON:-python}" -m dvc "$@"; }  # DVC as a module only (the GPU machine)
cache=$(dvc cache dir)
dvc repro download  # the prepared data once, here; the workers restore it from the shared cache
pids=()
trees=()
for k in $(seq 0 $((n - 1))); do
  tree=$(dirname "$PWD")/$(basename "$PWD")-worker-$k
  rm -f "$tree/worker.log"  # an earlier call's: a worker log is this call's or none
  mapfile -t stages < <(python -m cifar10_study.experiments.stage_list --workers "$n" --worker "$k" "$@")
  [ ${#stages[@]} -gt 0 ] || continue
  [ -d "$tree" ] || git worktree add --quiet --detach "$tree" HEAD
  git -C "$tree" checkout --quiet --force --detach "$(git rev-parse HEAD)"
  cp params.yaml "$tree/params.yaml"
  trees+=("$tree")
  ( cd "$tree" && dvc cache dir --local "$cache" && echo "worker $k on GPU $((k % gpus)): ${stages[*]}" &&
    CUDA_VISIBLE_DEVICES=$((k % gpus)) dvc repro "${stages[@]}" ) > "$tree/worker.log" 2>&1 &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
[ $status -eq 0 ] || { echo "local_gpus: a worker failed; see $(printf '%s/worker.log ' "${trees[@]}")" >&2; exit 1; }
dvc repro "$@"
