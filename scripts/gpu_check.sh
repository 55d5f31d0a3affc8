#!/usr/bin/env bash
# The prepared GPU check: one script, sized to finish in under 8 minutes on one modern GPU (H200 class).
#
#   bash scripts/gpu_check.sh PACK_DIR [OUT_DIR]
#
# PACK_DIR holds cifar10-jpeg-pack.npz and unpack_jpeg_pack.py (copy them into a git-ignored folder such as
# devcarry/ to take them to the GPU machine). It installs nothing but bnbench itself, without dependencies (the
# machine must already have torch, torchvision, pytest, pytest-benchmark, hypothesis, matplotlib, rich, scipy;
# where even that install fails, bnbench runs from the checkout through PYTHONPATH), then runs:
#   1. the speed benchmarks (-m speed): MyNet's two-epoch check against the study-style loop (fp32, default =
#      bf16 + CUDA graph, compiled, and eager without the graph), every model's images/s, FLOPs and fraction of
#      the matmul peak, and from those the full suite's estimated wall time on this GPU;
#   2. the CUDA-only unit tests (graphs against eager, bf16, determinism, OOM message);
#   3. section 2.1 at full scale (2 models x 20 epochs, 1 seed): accuracy and s/epoch against the study's;
#   4. section 2.2 at full scale (2 models x 4 learning rates x 20 epochs, 1 seed): the course's band;
# and prints one table per part (bnbench summary). Each part has its own time limit and is stopped with SIGINT
# (bnbench then writes a partial summary), so one slow part cannot take the others down with it.
#
# GPU_CHECK_DEVICE=cpu runs the same script on the CPU at a toy scale (no nvidia-smi, 1 epoch on 20 images per
# class, per-model speed only): a rehearsal of the script itself, not a measurement.
set -uo pipefail
PACK_DIR="${1:?usage: gpu_check.sh PACK_DIR [OUT_DIR]}"
OUT="${2:-${OUT:-gpu-check-out}}"
DEVICE="${GPU_CHECK_DEVICE:-cuda}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
PACK_DIR="$(cd "$PACK_DIR" 2>/dev/null && pwd)" || { echo "PACK_DIR $1 is not a folder" >&2; exit 2; }
cd "$(dirname "$0")/.."

PLUGIN=()
if ! python -m pip install --quiet --no-deps --no-build-isolation -e . > "$OUT/install.log" 2>&1; then
  echo "pip could not install bnbench (see $OUT/install.log); running it from the checkout"
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
  # pytest loads the plugin by its entry point when some metadata on the path declares one (e.g. a leftover
  # bnbench.egg-info in the checkout); only without one does it need naming, and naming it twice is an error.
  if ! python -c "import importlib.metadata as m, sys; sys.exit(not any(e.name == 'bnbench' for e in
m.entry_points(group='pytest11')))"; then
    PLUGIN=(-p bnbench.plugin)
  fi
fi
DATA="$(mktemp -d)"
trap 'rm -rf "$DATA"' EXIT
python "$PACK_DIR/unpack_jpeg_pack.py" "$PACK_DIR/cifar10-jpeg-pack.npz" "$DATA" >/dev/null || exit 1
export BNBENCH_DATA="$DATA" BNBENCH_OFFLINE=1
export COLUMNS="${COLUMNS:-180}"   # rich's tables at a readable width in a log
if [ "$DEVICE" = cpu ]; then
  echo "GPU_CHECK_DEVICE=cpu: a rehearsal of this script at toy scale, not a measurement" | tee "$OUT/gpu.txt"
  SPEED=(-m speed -k model_speed); SCALE=(--bnbench-epochs 1 --bnbench-subset 20)
else
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
  SPEED=(-m speed); SCALE=()
fi
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$OUT/gpu.txt"

status=0
: > "$OUT/times.txt"
part() {  # part NAME SECONDS pytest-args...
  local name=$1 limit=$2; shift 2
  echo "== $name (limit ${limit}s)"
  mkdir -p "$OUT/$name"
  local start=$SECONDS
  timeout -s INT -k 30 "$limit" python -m pytest "${PLUGIN[@]}" -q -p no:cacheprovider "$@" \
      > "$OUT/$name.log" 2>&1
  local rc=$?
  echo "$name: exit $rc in $((SECONDS - start)) s (limit $limit s)" | tee -a "$OUT/times.txt"
  tail -n 3 "$OUT/$name.log"
  [ "$rc" -eq 0 ] || status=1
}
bench() {  # bench NAME SECONDS pytest-args...: a benchmark part, with bnbench's output folder and JSON
  local name=$1 limit=$2; shift 2
  part "$name" "$limit" benchmarks --bnbench-device "$DEVICE" --bnbench-out "$OUT/$name" \
      --benchmark-json "$OUT/$name/benchmark.json" "$@"
}
bench speed 210 "${SPEED[@]}"
if [ "$DEVICE" != cpu ]; then
  part cuda-tests 60 tests/test_train.py tests/test_graphs.py -k "cuda or graph"
fi
bench full-2.1 90 -k test_2_1 -m full --bnbench-seeds 1 "${SCALE[@]}"
bench full-2.2 120 -k test_2_2 -m full --bnbench-seeds 1 "${SCALE[@]}"

echo "== tables"
for d in speed full-2.1 full-2.2; do
  if [ -f "$OUT/$d/summary.json" ]; then
    python -m bnbench.cli summary "$OUT/$d"
  else
    echo "$d: no summary.json (see $OUT/$d.log)"
  fi
done
cat "$OUT/times.txt"
exit $status
