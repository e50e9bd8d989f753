#!/usr/bin/env bash
# README command (1): install dependencies, build, and run the main job on an embedded default:
# synthesize a small model, convert it through every format and print `apr info` for each.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target apr
APR=build/release/apps/apr
out=build/demo
rm -rf "$out" && mkdir -p "$out"
"$APR" synth --preset tiny-qwen2 --type f32 --seed 1 -o "$out/tiny.gguf"
"$APR" quantize "$out/tiny.gguf" "$out/tiny-q4_k_m.gguf" --type q4_k_m
"$APR" convert "$out/tiny.gguf" "$out/tiny.apr" --compression zstd
"$APR" convert "$out/tiny.gguf" "$out/tiny-hf"
"$APR" convert "$out/tiny-hf" "$out/tiny-from-hf.gguf"
for f in tiny.gguf tiny-q4_k_m.gguf tiny.apr tiny-hf tiny-from-hf.gguf; do
  echo "=== apr info $f"
  "$APR" info "$out/$f"
done
"$APR" verify "$out/tiny.apr"
# Inference: a fixed-seed completion from the synthesized model (random weights: noise text),
# then, when the shared assets are present, a trained model's greedy completion and perplexity.
echo "=== apr run (tiny.gguf, seed 42)"
"$APR" run "$out/tiny.gguf" "Once upon a time" --seed 42 --max-tokens 24 --verbose
assets="${APR_SHARED_ASSETS:-../shared/assets}"
if [ -f "$assets/models/frankentiny/frankentiny-f32.gguf" ]; then
  echo "=== apr run (frankentiny, greedy)"
  "$APR" run "$assets/models/frankentiny/frankentiny-f32.gguf" "I beheld the wretch" \
    --temperature 0 --max-tokens 80
  echo "=== apr perplexity (frankentiny, held-out last 10%)"
  "$APR" perplexity "$assets/models/frankentiny/frankentiny-f32.gguf" \
    "$assets/datasets/frankenstein.txt" --from-fraction 0.9 --ctx 256
fi
