#!/usr/bin/env bash
# Scores the reference fixtures (mlp, cnn, perf/cnn32, every tests/fixtures/arch case, both exports)
# and, when tools/make_large_models.py has written them, a few samples of each large model,
# with a wbound binary into one folder of CSVs, so two builds can be compared with `cmp` (speed
# changes must keep the scores bit-identical). Usage: tools/score_fixtures.sh BIN OUT_DIR [THREADS]
set -euo pipefail
bin=$1 out=$2 threads=${3:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
run() { "$bin" score --quiet --threads "$threads" --model "$1" --inputs "$2" --out "$out/$3.csv" "${@:4}"; }
run "$root/tests/fixtures/mlp/model.onnx" "$root/tests/fixtures/mlp/x.npy" mlp
run "$root/tests/fixtures/cnn/model.onnx" "$root/tests/fixtures/cnn/x.npy" cnn
run "$root/tests/fixtures/perf/cnn32/model_bias.onnx" "$root/tests/fixtures/perf/cnn32/x.npy" cnn32
for d in "$root"/tests/fixtures/arch/*/; do
  case=$(basename "$d")
  for f in legacy dynamo; do
    run "$d/$f.onnx" "$d/x.npy" "arch_${case}_$f"
  done
done
large=$root/tests/fixtures/large
if [ -d "$large" ]; then
  # 32 inputs each: shard 0 of 8 is 4 samples (ViT-tiny: 2).
  for case in resnet18 convnext bert_tiny; do
    [ -f "$large/$case.onnx" ] && run "$large/$case.onnx" "$large/${case}_x.npy" "large_$case" --shard 0/8
  done
  [ -f "$large/vit_tiny.onnx" ] && run "$large/vit_tiny.onnx" "$large/vit_tiny_x.npy" large_vit_tiny --shard 0/16
fi
