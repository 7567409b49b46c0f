#!/usr/bin/env bash
# tools/gpu_check.sh [OUT_DIR]: the one-command health check of the CUDA path, on a machine with an NVIDIA GPU.
#
# Within GPU_CHECK_BUDGET_S seconds (default 480, i.e. inside 9 minutes with room for start-up) and with no
# network, it prints and writes to OUT_DIR (default benchmarks/results/gpu_check-<date>):
#   gpu_check.json      GPU, driver, torch / CUDA / cuDNN versions and a measured bf16 matmul rate; the CUDA
#                       tests' result; ResNet-18 throughput per torch.compile variant (eager, default,
#                       reduce-overhead = CUDA graphs): steady epoch time over 50,000 images at batch 128,
#                       images/s, compile warm-up, fraction of the bf16 peak; SE-ResNet-18 + MixUp + Cutout;
#                       the full profile's GPU time estimated from those; one ResNet-18 run with the Stage 4
#                       recipe on all 50,000 training images for as many epochs as the budget holds (cosine
#                       over those epochs) and its final test accuracy
#   throughput.csv, stage4_history.csv, pytest.log (the CUDA tests, `pytest -m cuda`), data.log, gpu_check.log
#   airbench_calibration.json   airbench94 / airbench96 on this data against their published means (when the
#                       airbench wheel is in .whl/; benchmarks/airbench_calibration.py)
# It runs from the source tree (PYTHONPATH=src) with the machine's own torch, so it needs no `pip install`
# and no DVC. Missing pure-Python dependencies (pydantic, ruamel.yaml) are installed from wheels in .whl/
# if present (tools/device_bundle.py makes that folder, docs/gpu.md). Data: data/prepared if present; else
# the archive data/raw/cifar-10-python.tar.gz; else it builds that from the JPEG stand-in
# (cifar10-jpeg.tar.gz + make_cifar10_archive.py in .gpu-data/ or ../shared/data/), in the background
# while the tests run. Without a CUDA device it prints one line and exits 1.
# GPU_CHECK_TEST_S caps the CUDA tests (default a third of the budget); GPU_CHECK_ARGS passes options to
# `gpu_check.py measure` (e.g. "--variants reduce-overhead --no-recipe-run" for a short re-check).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
BUDGET=${GPU_CHECK_BUDGET_S:-480}
deadline=$(( $(date +%s) + BUDGET ))

if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1; then
  echo "gpu_check: no CUDA device visible to $PY (torch.cuda.is_available() is False, or torch is missing); run it on a machine with an NVIDIA GPU" >&2
  exit 1
fi
OUT=${1:-benchmarks/results/gpu_check-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"

if ! "$PY" -c 'import pydantic, ruamel.yaml' >/dev/null 2>&1; then
  if ! compgen -G ".whl/*.whl" >/dev/null; then
    echo "gpu_check: $PY lacks pydantic / ruamel.yaml and there is no .whl/ folder to install them from (docs/gpu.md)" >&2
    exit 1
  fi
  site=$(mktemp -d)
  "$PY" -m pip install -q --no-index --no-deps --target "$site" .whl/*.whl || exit 1
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"

echo "gpu_check: results in $OUT, budget ${BUDGET} s"
"$PY" benchmarks/gpu_check.py prepare-data >"$OUT/data.log" 2>&1 &
data_pid=$!

# The CUDA tests (they compile a small network a few times: about a minute on an H200); GPU_CHECK_TEST_S=0
# skips them (a throughput-only re-check).
test_s=${GPU_CHECK_TEST_S:-$(( BUDGET / 3 ))}
if [ "$test_s" -gt 0 ]; then
  timeout "$test_s" "$PY" -m pytest -m cuda -p no:cacheprovider tests/unit/test_cuda.py >"$OUT/pytest.log" 2>&1
  echo "exit_status=$?" >>"$OUT/pytest.log"
  tail -n 12 "$OUT/pytest.log"
else
  echo "exit_status=skipped" >"$OUT/pytest.log"
fi

if ! wait "$data_pid"; then
  echo "gpu_check: preparing the data failed:" >&2
  tail -n 5 "$OUT/data.log" >&2
  exit 1
fi
# The data's cost in accuracy against a published anchor (airbench's reference trainings): the last
# GPU_CHECK_CALIBRATION_S seconds (default 120) when the airbench wheel was carried, else none.
calibration_s=0
if "$PY" -c 'import airbench' >/dev/null 2>&1; then calibration_s=${GPU_CHECK_CALIBRATION_S:-120}; fi
# shellcheck disable=SC2086  # GPU_CHECK_ARGS is a list of options
"$PY" benchmarks/gpu_check.py measure "$OUT" --deadline "$(( deadline - calibration_s ))" --pytest-log "$OUT/pytest.log" \
  ${GPU_CHECK_ARGS:-} 2>&1 | tee "$OUT/gpu_check.log"
status=${PIPESTATUS[0]}
if [ "$calibration_s" -gt 0 ]; then
  "$PY" benchmarks/airbench_calibration.py data/raw/cifar-10-python.tar.gz "$OUT/airbench_calibration.json" \
    --deadline "$deadline" 2>&1 | tee -a "$OUT/gpu_check.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
else
  echo "gpu_check: no airbench wheel in .whl/: the data calibration (benchmarks/airbench_calibration.py) is skipped" |
    tee -a "$OUT/gpu_check.log"
fi
grep -qE "exit_status=(0|skipped)$" "$OUT/pytest.log" || status=1
echo "gpu_check: finished with status $status; results in $OUT"
exit "$status"
