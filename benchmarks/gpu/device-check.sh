#!/usr/bin/env bash
# One command on the GPU machine, from the repository root, after scripts/gpu-stage.sh staged
# .devbuild/gpu-stage.tar.gz here (carry it):
#   benchmarks/gpu/device-check.sh [tests] [sanitize] [bench] [serve]     (default: all four)
# tests:    every GPU test binary (the `ctest -L gpu` set), pass/fail per binary;
# sanitize: compute-sanitizer memcheck on the whole-model and op tests, racecheck on the ops;
# bench:    benchmarks/gpu/run.sh (synthesizes 1.5B and 7B Q4_K_M, pp512 / tg128 / roofline);
# serve:    `apr serve` on the 7B with serve_bench at concurrency 8 / 32 / 64 (~128-token
#           prompts, 128 generated tokens), mixed and separate prompt steps.
# Logs go to $OUT (or /tmp/apr-gpu-check); a summary table is printed last.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DEV=$ROOT/.devbuild
export LD_LIBRARY_PATH=$DEV/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PATH=$DEV/bin:$PATH:/usr/local/cuda/bin
OUT=${OUT:-/tmp/apr-gpu-check}
if [ -f "$DEV/gpu-stage.tar.gz" ] && [ ! -x "$DEV/bin/apr" ]; then
  gzip -dc "$DEV/gpu-stage.tar.gz" | tar -C "$DEV" -xf - || { echo "cannot unpack the stage"; exit 1; }
fi
mkdir -p "$OUT"
steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(tests sanitize bench serve)
summary=()
want() { for s in "${steps[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }
note() { summary+=("$1"); echo "== $1"; }

nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.total --format=csv
ldd "$DEV/bin/apr" | grep -i "not found" && { echo "missing libraries (above)"; exit 1; }

if want tests; then
  for t in cuda_context_test cuda_ops_test cuda_matmul_test cuda_gpu_model_test; do
    s=$(date +%s)
    if "$DEV/bin/$t" > "$OUT/$t.log" 2>&1; then r=pass; else r=FAIL; fi
    note "test $t: $r ($(tail -2 "$OUT/$t.log" | tr -s ' \n' ' ')) $(( $(date +%s) - s )) s"
  done
fi

if want sanitize; then
  san() {  # tool, binary, catch2 filter
    local log="$OUT/san-$1-$2.log"
    timeout "${SAN_TIMEOUT:-240}" compute-sanitizer --tool "$1" --error-exitcode 3 "$DEV/bin/$2" "$3" > "$log" 2>&1
    note "compute-sanitizer $1 $2 '$3': rc $? ($(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$log" | tail -1))"
  }
  san memcheck cuda_gpu_model_test "GPU ForwardSegments*"
  san memcheck cuda_gpu_model_test "GPU ForwardBatch*"
  san racecheck cuda_ops_test "*"
  san memcheck cuda_ops_test "*"
fi

if want bench; then
  OUT=$OUT TOKENIZER=$DEV/tokenizer.json APR=$DEV/bin/apr WORK=/tmp/apr-gpu-models \
    RUNS=${RUNS:-3} bash "$ROOT/benchmarks/gpu/run.sh" | tee "$OUT/bench-table.txt"
fi

if want serve; then
  m=/tmp/apr-gpu-models/qwen2.5-7b-q4_k_m.gguf
  mkdir -p "$(dirname "$m")"
  if [ ! -f "$m" ]; then
    apr synth --preset qwen2.5-7b --type q4_k_m --seed 1 --tokenizer "$DEV/tokenizer.json" -o "$m" \
      > "$OUT/synth-serve.txt" 2>&1
  fi
  for mixed in ${SERVE_MIXED:-1 0}; do
    port=$((8090 + mixed))
    APR_SCHED_MIXED=$mixed apr serve "$m" --port "$port" --parallel 64 --ctx-size 512 --quiet \
      > "$OUT/serve-mixed$mixed.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 120); do
      curl -sf "http://127.0.0.1:$port/health" > /dev/null 2>&1 && break
      sleep 1
    done
    serve_bench --port "$port" --levels "${SERVE_LEVELS:-8,32,64}" --seconds "${SERVE_SECONDS:-15}" \
      --max-tokens 128 --prompt-words 124 --temperature 0 > "$OUT/serve-bench-mixed$mixed.md" 2>&1
    kill -INT "$pid"; wait "$pid"
    note "serve APR_SCHED_MIXED=$mixed (exit $?):"
    cat "$OUT/serve-bench-mixed$mixed.md"
  done
fi

echo
echo "== summary"
printf '%s\n' "${summary[@]}"
