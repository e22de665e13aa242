#!/usr/bin/env bash
# The one script to run on a lent GPU machine (device tool): no network there, so it installs
# shiftnet over the image's torch and CuPy without dependencies, runs the CUDA tests and the
# benchmarks, keeps raw JSON under $OUT, and prints a short summary table last.
# Usage (from the repo root): bash scripts/gpu_check.sh        Budget: about 5 minutes.
set -uo pipefail
OUT=${OUT:-/tmp/shiftnet-gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
$PY -c "import torch, cupy; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cupy', cupy.__version__)" | tee -a "$OUT/gpu.txt"
if ! $PY -m pip install -q --no-deps --no-build-isolation -e . >"$OUT/pip.log" 2>&1; then
  echo "pip install -e . failed (see pip.log); running from the source tree instead"
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi

echo "== cuda tests"
timeout 240 $PY -m pytest -q -m cuda -p no:cacheprovider tests 2>&1 | tee "$OUT/pytest_cuda.log" | tail -n 15

echo "== bench shift"
timeout 150 $PY -m shiftnet bench shift --device cuda --dtype float32 --dtype bfloat16 --repeats 20 --json >"$OUT/bench_shift.json" 2>"$OUT/bench_shift.err" \
  || { echo "bench shift failed:"; tail -n 5 "$OUT/bench_shift.err"; }

echo "== bench train (synthetic data; no network there for CIFAR) and loader"
timeout 120 $PY -m shiftnet bench train --device cuda --amp bf16 --channels-last --steps 50 --warmup 10 \
  -m resnet20 -m shiftresnet20:1 -m shiftresnet20:3 -m shiftresnet56:6 --json >"$OUT/bench_train.json" 2>"$OUT/bench_train.err" \
  || { echo "bench train failed:"; tail -n 5 "$OUT/bench_train.err"; }
timeout 60 $PY -m shiftnet bench loader --device cuda --json >"$OUT/bench_loader.json" 2>"$OUT/bench_loader.err" \
  || { echo "bench loader failed:"; tail -n 5 "$OUT/bench_loader.err"; }

echo "== summary"
$PY scripts/gpu_summary.py "$OUT"
