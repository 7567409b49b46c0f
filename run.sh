#!/usr/bin/env bash
# The project's two entry points (see README):
#   ./run.sh [-S key=value ...]   set up .venv if needed, then run the whole pipeline (dvc repro; with -S
#                                 overrides, `dvc exp run -S ...`, which also writes them into params.yaml),
#                                 then copy the generated summary table into README.md
#   ./run.sh test [pytest args]   set up .venv if needed, then run the test suite (what CI runs)
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
  *)
    setup
    if [ $# -gt 0 ]; then dvc exp run "$@"; else dvc repro; fi
    # The README shows the study's summary table: copy the freshly generated one in.
    python -m cifar10_study.summary --readme
    ;;
esac
