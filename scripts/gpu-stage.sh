#!/usr/bin/env bash
# Stages a CUDA build for the lent GPU machine, which lacks our Debian libraries:
#   scripts/gpu-stage.sh [BUILD_DIR]        (default build/release, configured with CUDA)
# Copies the stripped `apr`, the GPU test binaries and the GPU/serving benchmarks into
# .devbuild/bin, every shared library they load except glibc's, the CUDA driver's and the
# CUDA toolkit's (the GPU machine has CUDA 13) into .devbuild/lib, and the shared Qwen
# tokenizer into .devbuild/, then packs the three into .devbuild/gpu-stage.tar.gz (the device
# run carries at most 64 MiB; the binaries alone are ~60 MB unpacked). `.devbuild/` is
# gitignored: name .devbuild/gpu-stage.tar.gz in the device run's `carry` and run
# benchmarks/gpu/device-check.sh there (it unpacks the archive).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build/release}
DEST=.devbuild
rm -rf "$DEST/bin" "$DEST/lib"
mkdir -p "$DEST/bin" "$DEST/lib"

bins=(
  "$BUILD/apps/apr"
  "$BUILD/tests/cuda/cuda_context_test"
  "$BUILD/tests/cuda/cuda_matmul_test"
  "$BUILD/tests/cuda/cuda_ops_test"
  "$BUILD/tests/cuda/cuda_gpu_model_test"
  "$BUILD/benchmarks/gpu/matmul_bench"
  "$BUILD/benchmarks/serve/serve_bench"
  "$BUILD/benchmarks/serve/batch_step_bench"
)
for b in "${bins[@]}"; do
  if [ ! -x "$b" ]; then
    echo "gpu-stage: $b is missing (build $BUILD with CUDA first)" >&2
    exit 1
  fi
  strip -o "$DEST/bin/$(basename "$b")" "$b"
done

# Libraries the GPU machine provides itself: glibc, the driver, the CUDA toolkit.
skip='^(linux-vdso|ld-linux|libc\.|libm\.|libpthread|libdl\.|librt\.|libcuda\.|libcublas|libcudart|libnvidia)'
for b in "$DEST"/bin/*; do
  ldd "$b" | awk '$3 ~ /^\// {print $1, $3}'
done | sort -u | while read -r name path; do
  if ! [[ $name =~ $skip ]]; then cp -L "$path" "$DEST/lib/$name"; fi
done

tok=../shared/assets/tokenizers/qwen2/tokenizer.json
if [ -f "$tok" ]; then cp "$tok" "$DEST/tokenizer.json"; fi
tar -C "$DEST" -cf - bin lib $( [ -f "$DEST/tokenizer.json" ] && echo tokenizer.json) |
  gzip -9 > "$DEST/gpu-stage.tar.gz"
du -sh "$DEST/bin" "$DEST/lib" "$DEST/gpu-stage.tar.gz"
