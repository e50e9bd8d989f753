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
