#!/usr/bin/env bash
# The project's two entry points (see README):
#   ./run.sh [-S key=value ...]   set up .venv if needed, then run the whole pipeline (dvc repro; with -S
#                                 overrides, `dvc exp run -S ...`, which also writes them into params.yaml)
#   ./run.sh test [pytest args]   set up .venv if needed, then run the test suite (what CI runs)
#   ./run.sh readme               copy the generated summary table (reports/summary.md) and the GPU results
#                                 (python -m cifar10_study.gpu_results) into README.md, for results you mean to commit
#                                 (experiments leave the README alone)
#   ./run.sh headline [args]      the experiments side by side, the study's headline and the params that differ
#                                 (dvc exp show with flags, see src/cifar10_study/views.py)
#   ./run.sh headline-diff [REV [REV]]
#                                 the headline and params between two revisions (dvc metrics diff, dvc params diff)
#   ./run.sh setup                only set up .venv
set -euo pipefail
cd "$(dirname "$0")"

VENV=.venv
PYTHON=${PYTHON:-python3}

setup() {
  # Reinstall whenever pyproject.toml changes (the stamp carries its hash).
  local stamp="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    echo "setting up $VENV: a few minutes the first time" >&2
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[test]"
    rm -f "$VENV"/.installed-*
    touch "$stamp"
  fi
  export PATH="$PWD/$VENV/bin:$PATH"
}

case "${1:-}" in
  setup) setup ;;
  test) shift; setup; exec python -m pytest "$@" ;;
  readme) setup; python -m cifar10_study.reporting.summary --readme && exec python -m cifar10_study.gpu_results --readme ;;
  headline) shift; setup; exec python -m cifar10_study.views show "$@" ;;
  headline-diff) shift; setup; exec python -m cifar10_study.views diff "$@" ;;
  *)
    setup
    if [ $# -gt 0 ]; then exec dvc exp run "$@"; else exec dvc repro; fi
    ;;
esac
