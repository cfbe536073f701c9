#!/usr/bin/env bash
# The checks that need a GPU, and a short report of their figures.
#
#   tools/analysis/gpu_check.sh [OUT_DIR]      # default work_dirs/gpu_check
#
# 1. mmcv's ops check on the GPU (RoIAlign forward / backward, nms);
# 2. the GPU test tier, `pytest -m gpu tests` (tests/test_gpu: AMP fp16 and
#    bf16 steps, the loss scaler through --resume, the non-finite-loss hook
#    under AMP, Mask R-CNN and UperNet with mmcv's CUDA ops, SyncBN in a
#    one-process nccl group, benchmark_step.py --device cuda);
# 3. the Swin-B training step, bf16, batch 128, 192 px
#    (benchmark_step.py --arch base --img-size 192 --batch 128 --dtype bf16
#    --iters 20 --warmup 5).
# OUT_DIR/report.md has the machine, each test's outcome and time, and the
# step table; the logs are beside it. Sized for under 8 minutes on one GPU
# (one process; CUDA_VISIBLE_DEVICES picks the GPU); a phase that hangs is
# stopped (2, 7 and 4 minutes) and reported. Exit status: non-zero when a
# check failed or did not finish.
set -uo pipefail
cd "$(dirname "$0")/../.."
PYTHON="${PYTHON:-python}"
OUT="${1:-work_dirs/gpu_check}"
mkdir -p "$OUT"

if ! "$PYTHON" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
  echo "gpu_check: torch sees no CUDA GPU; nothing to check" >&2
  exit 1
fi

now() { date +%s; }
t0=$(now)
timeout 120 "$PYTHON" scripts/mmcv_build.py ops-check --device cuda >"$OUT/ops_check.txt" \
  2>"$OUT/ops_check.log"
ops_rc=$?
cat "$OUT/ops_check.txt" "$OUT/ops_check.log"

t1=$(now)
timeout 420 "$PYTHON" -m pytest -m gpu tests -p no:cacheprovider -q -rfEs \
  --durations=10 --junitxml "$OUT/gpu_tests.xml" 2>&1 | tee "$OUT/gpu_tests.log"
tests_rc=${PIPESTATUS[0]}

t2=$(now)
timeout 240 "$PYTHON" tools/analysis/benchmark_step.py --arch base --img-size 192 \
  --batch 128 --dtype bf16 --iters 20 --warmup 5 --device cuda \
  --out "$OUT/benchmark_swin-b_bf16_b128.json" 2>&1 | tee "$OUT/benchmark.log"
bench_rc=${PIPESTATUS[0]}
t3=$(now)

"$PYTHON" tools/analysis/gpu_report.py --junit "$OUT/gpu_tests.xml" \
  --benchmark "$OUT/benchmark_swin-b_bf16_b128.json" \
  --ops-check "$OUT/ops_check.txt" \
  --seconds "ops_check=$((t1 - t0))" "tests=$((t2 - t1))" \
  "benchmark=$((t3 - t2))" --out "$OUT/report.md" >/dev/null
echo "gpu_check: report in $OUT/report.md ($(( (t3 - t0) / 60 )) min)"
if (( ops_rc || tests_rc || bench_rc )); then
  echo "gpu_check: FAILED (ops check $ops_rc, tests $tests_rc, benchmark $bench_rc)" >&2
  exit 1
fi
