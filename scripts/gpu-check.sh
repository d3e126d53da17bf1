#!/usr/bin/env bash
# The GPU checks, on a machine with an NVIDIA GPU (`make test-gpu` runs this):
#   1. aisle-gpu's device tests (tests/gpu_device.rs): the CUDA preprocessing kernels bit-exact
#      with the CPU reference on the sample video, device frames equal to host frames, and the
#      kernel's throughput against the device's memory bandwidth;
#   2. the same tests under compute-sanitizer (memcheck, racecheck, initcheck, synccheck), when
#      it is installed;
#   3. `aisle check` and `aisle models prepare` with runtime.gpu = "preferred";
#   4. `aisle detect --json` over the whole sample video with the GPU preprocessing and with the
#      CPU one: the detections must be byte-identical.
#
# NVRTC: the venv's libnvrtc.so.12 (scripts/setup.sh) when present, else the system's newest
# (e.g. /usr/local/cuda/lib64/libnvrtc.so.13), offered under the name libnvrtc.so. ONNX Runtime:
# $ORT_DYLIB_PATH, else $AISLE_CACHE/lib/libonnxruntime.so, else the onnxruntime Python package's.
# Prebuilt binaries can be given (a machine without Rust): AISLE_BIN (an `aisle`, e.g. built with
# --no-default-features) and GPU_TEST_BIN (`cargo test --release -p aisle-gpu --test gpu_device
# --no-run`'s executable). Logs and outputs go to $OUT (default ./gpu-check-out).
set -euo pipefail
cd "$(dirname "$0")/.."
AISLE_CACHE=${AISLE_CACHE:-$HOME/.cache/aisle}
OUT=${OUT:-$PWD/gpu-check-out}
mkdir -p "$OUT"
export AISLE_CACHE
step() { printf '\n=== %s (%s)\n' "$*" "$(date +%T)"; }

step machine
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || { echo "no NVIDIA GPU here" >&2; exit 1; }

nvrtc=
for f in "$AISLE_CACHE"/venv/lib/python3*/site-packages/nvidia/cuda_nvrtc/lib/libnvrtc.so.12 \
         /usr/local/cuda/lib64/libnvrtc.so.[0-9]*; do
  # The first match wins: the venv's pinned NVRTC 12, else the toolkit's (its major version).
  if [ -z "$nvrtc" ] && [ -f "$f" ] && [[ "$f" != *builtins* ]]; then nvrtc=$f; fi
done
[ -n "$nvrtc" ] || { echo "no NVRTC found: run scripts/setup.sh or install the CUDA toolkit's NVRTC" >&2; exit 1; }
libdir=$(mktemp -d)
ln -s "$nvrtc" "$libdir/libnvrtc.so"
nvrtc_dir=$(dirname "$nvrtc")
export LD_LIBRARY_PATH="$libdir:$nvrtc_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "NVRTC: $nvrtc"

if [ -z "${ORT_DYLIB_PATH:-}" ]; then
  if [ -e "$AISLE_CACHE/lib/libonnxruntime.so" ]; then
    ORT_DYLIB_PATH=$AISLE_CACHE/lib/libonnxruntime.so
  else
    ORT_DYLIB_PATH=$(python3 -c 'import glob, os, onnxruntime; print(sorted(glob.glob(os.path.join(os.path.dirname(onnxruntime.__file__), "capi", "libonnxruntime.so*")))[-1])')
  fi
fi
export ORT_DYLIB_PATH
echo "ONNX Runtime: $ORT_DYLIB_PATH"

if [ -z "${AISLE_BIN:-}" ] || [ -z "${GPU_TEST_BIN:-}" ]; then
  cargo build --release -q -p aisled
  AISLE_BIN=${AISLE_BIN:-${CARGO_TARGET_DIR:-target}/release/aisle}
  GPU_TEST_BIN=${GPU_TEST_BIN:-$(cargo test --release -q -p aisle-gpu --test gpu_device --no-run --message-format=json \
    | python3 -c 'import json, sys; print([m["executable"] for m in map(json.loads, sys.stdin) if m.get("executable")][-1])')}
fi

step "device tests"
"$GPU_TEST_BIN" --ignored --nocapture --test-threads 1 2>&1 | tee "$OUT/gpu_device.log"

if command -v compute-sanitizer >/dev/null; then
  for tool in memcheck racecheck initcheck synccheck; do
    step "compute-sanitizer $tool"
    compute-sanitizer --tool "$tool" --error-exitcode 3 "$GPU_TEST_BIN" --ignored --test-threads 1 --skip throughput \
      > "$OUT/sanitizer_$tool.log" 2>&1 || { tail -30 "$OUT/sanitizer_$tool.log"; exit 1; }
    grep -E "test result|SUMMARY" "$OUT/sanitizer_$tool.log"
  done
else
  echo "compute-sanitizer not installed: skipped"
fi

for gpu in preferred off; do
  printf '[runtime]\ngpu = "%s"\n' "$gpu" > "$OUT/$gpu.toml"
done
step "aisle check"
"$AISLE_BIN" check --config "$OUT/preferred.toml" 2>&1 | tee "$OUT/check.log" || true
step "aisle models prepare"
"$AISLE_BIN" models prepare --config "$OUT/preferred.toml" 2>&1 | tee "$OUT/prepare.log"

for gpu in preferred off; do
  step "aisle detect, runtime.gpu = $gpu"
  "$AISLE_BIN" detect --config "$OUT/$gpu.toml" --input "$AISLE_CACHE/media/vtest.mp4" --json \
    > "$OUT/detect_$gpu.jsonl" 2> "$OUT/detect_$gpu.err"
  grep "frames analysed" "$OUT/detect_$gpu.err"
done
if grep "GPU preprocessing not available" "$OUT/detect_preferred.err"; then
  echo "the GPU preprocessing did not run" >&2
  exit 1
fi
step "GPU against CPU preprocessing"
cmp "$OUT/detect_preferred.jsonl" "$OUT/detect_off.jsonl"
echo "identical detections on $(wc -l < "$OUT/detect_off.jsonl") frames"
