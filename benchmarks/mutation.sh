#!/usr/bin/env bash
# Mutation testing (mutmut 3) of the code where a wrong number would change the study's conclusion:
# analysis/stats.py, analysis/comparisons.py, analysis/calibration.py, the Stage 1-3 findings' rules
# (analysis/findings.py), the Stage 5 verdict wording (reporting/comparison_wording.py,
# reporting/stage45_report.py), training/evaluation.py's evaluate, training/engine.py's soft_cross_entropy,
# data/augment.py (benchmarks/mutation_tools.py lists the functions). One small change (a mutant) at a time; the fast test
# files below that reach the mutated function run against it; a mutant that no test fails has survived. Writes
# benchmarks/results/mutation.md: the score per module and each survivor with its diff and the reason it is
# left (benchmarks/mutation_explained.tsv). Not a test, not run in CI: tens of minutes on a 2-core CPU.
#
#   benchmarks/mutation.sh                      # the fast test files below
#   benchmarks/mutation.sh tests/unit/test_x.py ... # another selection (e.g. the files before a change)
#
# Needs mutmut 3.x in the venv (`.venv/bin/pip install mutmut`; PYTHON=... for another interpreter).
# It works in a copy under .cache/mutation/ (git-ignored): the checkout is never mutated.
# MUTATION_MODULES="analysis/stats.py ..." runs only those modules of the scope (a partial run, said so in
# the report).
# MUTATION_JOBS=2 runs two mutants at a time (when nothing else needs the CPU); MUTATION_OUT=path writes
# the report elsewhere; MUTATION_FROM=<commit> mutates that commit's src/ and
# runs its tests instead of the working tree's.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
WORK=$ROOT/.cache/mutation
OUT=$(realpath -m "${MUTATION_OUT:-benchmarks/results/mutation.md}")  # relative to the project root: the report step runs elsewhere
TOOLS=$ROOT/benchmarks/mutation_tools.py

if [ $# -gt 0 ]; then
  TESTS=("$@")
else
  TESTS=(tests/unit/test_stats.py tests/unit/test_augment.py tests/unit/test_epoch_batches.py tests/unit/test_engine.py
         tests/unit/test_stage3.py tests/unit/test_stage45.py
         tests/unit/test_verdicts.py tests/unit/test_evaluation.py tests/unit/test_calibration.py
         tests/unit/test_findings.py)
fi
mapfile -t SCOPE < <("$PYTHON" "$TOOLS" scope)

rm -rf "$WORK"
mkdir -p "$WORK"
FILES=(src tests pyproject.toml params.yaml dvc.yaml)
if [ -n "${MUTATION_FROM:-}" ]; then  # the code and tests of a commit, e.g. MUTATION_FROM=HEAD~3
  git -C "$ROOT" archive "$MUTATION_FROM" "${FILES[@]}" | tar -C "$WORK" -xf -
else
  tar -C "$ROOT" --exclude=__pycache__ --exclude='*.egg-info' -cf - "${FILES[@]}" | tar -C "$WORK" -xf -
fi
"$PYTHON" "$TOOLS" prepare "$WORK"
{
  echo "[mutmut]"
  echo "source_paths = src"
  echo "only_mutate ="
  "$PYTHON" "$TOOLS" modules | sed 's|^|    src/cifar10_study/|'  # SCOPE's modules (or MUTATION_MODULES')
  echo "pytest_add_cli_args_test_selection ="
  for t in "${TESTS[@]}"; do echo "    $t"; done
  printf 'also_copy =\n    params.yaml\n    dvc.yaml\n'  # some tests read the shipped params and stages
  echo "pytest_add_cli_args = -p no:cacheprovider"
  echo "process_isolation = forkserver"  # torch is not fork-safe once it has run
  echo "use_git_change_detection = false"
} > "$WORK/setup.cfg"

started=$(date +%s)
# mutmut puts its mutated copy of src/ first on sys.path; an inherited PYTHONPATH must not shadow it.
(cd "$WORK" && env -u PYTHONPATH nice -n 19 "$PYTHON" -m mutmut run --max-children "${MUTATION_JOBS:-1}" "${SCOPE[@]}")
# mutmut stops a mutant's tests after (estimate + 1 s) x 15 of wall-clock time, the estimate being the
# tests' own run time in its first pass (pytest's start-up, most of a few-test run, left out). At nice 19
# the tests get almost no CPU while a process at normal priority keeps the cores busy, so a mutant that a
# test kills within seconds on a free CPU can run into that limit and be called a timeout. The first run's
# 14 timeouts came in pairs of neighbouring mutants (both jobs of the same minutes), and each was killed,
# or survived, within seconds when run again. So each timed-out mutant gets one more run, one at a time;
# an endless loop times out again and stays listed as a timeout.
mapfile -t TIMEDOUT < <(cd "$WORK" && env -u PYTHONPATH "$PYTHON" "$TOOLS" timeouts "$WORK")
if [ ${#TIMEDOUT[@]} -gt 0 ]; then
  echo "re-running ${#TIMEDOUT[@]} timed-out mutant(s) one at a time"
  (cd "$WORK" && env -u PYTHONPATH nice -n 19 "$PYTHON" -m mutmut run --max-children 1 "${TIMEDOUT[@]}")
fi
(cd "$WORK" && env -u PYTHONPATH "$PYTHON" "$TOOLS" report "$WORK" "$OUT" $(( $(date +%s) - started )) "${TESTS[@]}")
echo "wrote $OUT"
