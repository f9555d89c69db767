#!/usr/bin/env bash
# GPU smoke test: what a maintainer runs on a Linux machine with an NVIDIA GPU, CUDA 11.2 and cuDNN 8.1 (the versions
# @tensorflow/tfjs-node-gpu 4.22 is built against). It cannot run on fastlr's CI machines (no GPU, and tfjs-node's
# install downloads libtensorflow). It checks the GPU path end to end and prints the figures to paste into an issue.
#   bash scripts/gpu-smoke.sh            # from a clone of the repository
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nvidia-smi >/dev/null || { echo "gpu-smoke: nvidia-smi not found: this machine has no NVIDIA driver" >&2; exit 2; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
npm ci --no-audit --no-fund
npm install --no-save --no-audit --no-fund @tensorflow/tfjs-node-gpu@4.22.0
npm run build
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== backend selection (must say tensorflow-gpu, device gpu)"
node bin/fastlr.js find configs/mnist-mlp.yaml --out "$work/find" --json > "$work/find.json"
node -e 'const d=require(process.argv[1]); console.log({backend:d.backend, device:d.device, kernels:d.kernels, optimizer_path:d.optimizer_path, warnings:d.backend_warnings, suggested:d.suggested, seconds:d.seconds}); if (d.backend!=="tensorflow-gpu"||d.device!=="gpu") process.exit(1)' "$work/find.json"
echo "== fit on the GPU"
node bin/fastlr.js fit configs/mnist-cnn.yaml --out "$work/fit" --json > "$work/fit.json"
node -e 'const d=require(process.argv[1]); console.log({backend:d.backend, device:d.device, final:d.final, seconds:d.seconds})' "$work/fit.json"
echo "== fidelity against fastai (fp32: NVIDIA_TF32_OVERRIDE=0 is set by fastlr unless precision: tf32)"
FASTLR_TEST_BACKEND=tensorflow-gpu npx vitest run test/fidelity-find.test.ts test/fidelity-fit.test.ts
echo "gpu-smoke: passed"
