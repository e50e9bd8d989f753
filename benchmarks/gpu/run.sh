#!/bin/bash
# GPU decode/prefill benchmark, one command on the GPU machine:
#   benchmarks/gpu/run.sh            (APR=path/to/apr to pick the binary, MODELS / RUNS to narrow)
# Synthesizes Qwen2.5-1.5B and Qwen2.5-7B as Q4_K_M GGUF (random weights, std 0.02, the real Qwen
# tokenizer from TOKENIZER or ../shared/assets/tokenizers/qwen2/tokenizer.json — the built-in
# byte-level BPE otherwise, which spells text in ~3x as many tokens; `apr synth --type q4_k_m`
# quantizes while writing, like `apr synth` + `apr quantize`),
# runs `apr bench --gpu` (pp512, tg128; it measures a 4 GiB device-to-device copy for the
# roofline), and prints a table beside the issue's targets. JSON of every run lands in $OUT.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if [ -z "${APR:-}" ]; then
  for c in "$ROOT/.devbuild/cudam/apr" "$ROOT/build/release/apps/apr"; do
    [ -x "$c" ] && APR=$c && break
  done
fi
OUT=${OUT:-/tmp/apr-gpu-bench}
WORK=${WORK:-/tmp/apr-gpu-models}
MODELS=${MODELS:-"qwen2.5-1.5b qwen2.5-7b"}
TOKENIZER=${TOKENIZER:-$ROOT/../shared/assets/tokenizers/qwen2/tokenizer.json}
TOK_ARGS=()
if [ -f "$TOKENIZER" ]; then
  TOK_ARGS=(--tokenizer "$TOKENIZER")
else
  echo "note: no $TOKENIZER; the models get the built-in tokenizer (prompt text runs ~3x longer)"
fi
RUNS=${RUNS:-3}
mkdir -p "$OUT" "$WORK"
echo "apr: $APR"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,memory.total \
  --format=csv | tee "$OUT/gpu.txt"
for m in $MODELS; do
  f="$WORK/$m-q4_k_m.gguf"
  if [ ! -f "$f" ]; then
    t0=$(date +%s)
    "$APR" synth --preset "$m" --type q4_k_m --seed 1 "${TOK_ARGS[@]}" -o "$f" > "$OUT/synth-$m.txt" 2>&1 ||
      { echo "synth $m failed:"; tail -5 "$OUT/synth-$m.txt"; continue; }
    echo "synthesized $m in $(( $(date +%s) - t0 )) s: $(du -h "$f" | cut -f1)"
  fi
  "$APR" bench "$f" --gpu -p 512 -n 128 -r "$RUNS" --json > "$OUT/bench-$m.json" 2> "$OUT/bench-$m.err" ||
    { echo "bench $m failed:"; tail -5 "$OUT/bench-$m.err"; }
done
python3 - "$OUT" $MODELS <<'PY'
import json, sys, os
out, models = sys.argv[1], sys.argv[2:]
targets = {"qwen2.5-7b": (12200, 260, 50, 40), "qwen2.5-1.5b": (None, 610, None, None)}
llama = {"qwen2.5-7b": (9781, 206), "qwen2.5-1.5b": (22848, 304)}
print(f"{'model':14} {'pp512 tok/s':>12} {'tg128 tok/s':>12} {'ttft ms':>8} {'GB/s copy':>10} "
      f"{'roofline':>9} {'% roof':>7} | target pp/tg/%/ttft      llama.cpp pp/tg")
for m in models:
    p = os.path.join(out, f"bench-{m}.json")
    try:
        j = json.load(open(p))
    except Exception as e:
        print(f"{m:14} no result ({e})"); continue
    t = targets.get(m, (None,) * 4); l = llama.get(m, (None, None))
    fmt = lambda v: "-" if v is None else str(v)
    print(f"{m:14} {j['prefill_tok_s']:12.1f} {j['decode_tok_s']:12.1f} {j['ttft_ms']:8.1f} "
          f"{j['memory_bandwidth_gb_s']:10.0f} {j['roofline_decode_tok_s']:9.1f} "
          f"{j['decode_roofline_pct']:6.1f}% | {fmt(t[0])}/{fmt(t[1])}/{fmt(t[2])}/{fmt(t[3])}"
          f"      {fmt(l[0])}/{fmt(l[1])}")
    g = j.get("provenance", {}).get("gpu", {})
    print(f"{'':14} {j['provenance'].get('backend_detail', '')}")
PY
