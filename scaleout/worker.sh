#!/usr/bin/env bash
# scaleout/worker.sh STAGE...: what one worker does, on any machine, in its own clone of the repository.
#
#   1. `dvc repro --pull STAGE...`: reproduce the given stages, pulling from the shared DVC remote any
#      output that exists there already, run-cache records included (so the data stage, if another worker
#      pushed it, is restored instead of recomputed, and a stage someone already trained is not retrained);
#   2. `dvc push --run-cache`: send the outputs and the run records to the remote, so that `dvc repro --pull`
#      anywhere restores these stages ("is cached - skipping run, checking out outputs").
#
# A plain `dvc push` sends no run records, and `dvc pull --run-cache && dvc repro` does not restore them
# (the pull fetches the records but not their objects): hence these two commands. The remote is the
# default one of .dvc/config (`dvc remote add -d`, docs/scaling-out.md). If the worker dies, nothing is
# pushed for its unfinished stage: run it again; a resume checkpoint exists only on the machine that died.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
  echo "usage: scaleout/worker.sh STAGE... (e.g. stage4@seed_0; list them with python -m cifar10_study.experiments.stage_list)" >&2
  exit 2
fi
dvc repro --pull "$@"
dvc push --run-cache
