#!/usr/bin/env bash
# The prepared GPU check: one script, sized to finish in under 8 minutes on one modern GPU (H200 class).
#
#   bash scripts/gpu_check.sh PACK_DIR [OUT_DIR]
#
# PACK_DIR holds cifar10-jpeg-pack.npz and unpack_jpeg_pack.py (copy them into a git-ignored folder such as
# devcarry/ to take them to the GPU machine). It installs nothing but bnbench itself (no dependencies: the machine
# must already have torch, torchvision, pytest, pytest-benchmark, hypothesis, matplotlib, rich, scipy), then runs:
#   1. the speed benchmarks (-m speed): MyNet's two-epoch check against the study-style loop, every model's
#      images/s, FLOPs and fraction of the matmul peak;
#   2. section 2.1 at full scale (2 models x 20 epochs, 1 seed): accuracy and s/epoch against the study's;
#   3. section 2.2 at full scale (2 models x 4 learning rates x 20 epochs, 1 seed): the course's band;
# and prints one table per part (bnbench summary). Each part has its own time limit, so one slow part cannot
# take the others down with it.
set -uo pipefail
PACK_DIR="${1:?usage: gpu_check.sh PACK_DIR [OUT_DIR]}"
OUT="${2:-${OUT:-gpu-check-out}}"
mkdir -p "$OUT"
python -m pip install --quiet --no-deps --no-build-isolation -e . || exit 1
DATA="$(mktemp -d)"
python "$PACK_DIR/unpack_jpeg_pack.py" "$PACK_DIR/cifar10-jpeg-pack.npz" "$DATA" >/dev/null || exit 1
export BNBENCH_DATA="$DATA" BNBENCH_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"

status=0
part() {  # part NAME SECONDS TARGET pytest-args...
  local name=$1 limit=$2 target=$3; shift 3
  echo "== $name (limit ${limit}s)"
  local start=$SECONDS
  timeout "$limit" python -m pytest "$target" -q --bnbench-device cuda --bnbench-out "$OUT/$name" \
      --benchmark-json "$OUT/$name/benchmark.json" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  echo "$name: exit $rc in $((SECONDS - start)) s" | tee -a "$OUT/times.txt"
  tail -n 3 "$OUT/$name.log"
  [ "$rc" -eq 0 ] || status=1
}
mkdir -p "$OUT/speed" "$OUT/full-2.1" "$OUT/full-2.2"
part speed 150 benchmarks -m speed
part full-2.1 120 benchmarks/test_2_1_vgg_a_batchnorm.py -m full --bnbench-seeds 1
part full-2.2 180 benchmarks/test_2_2_loss_landscape.py -m full --bnbench-seeds 1
for d in speed full-2.1 full-2.2; do
  [ -f "$OUT/$d/summary.json" ] && bnbench summary "$OUT/$d"
done
exit $status
