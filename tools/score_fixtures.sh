#!/usr/bin/env bash
# Scores the reference fixtures (mlp, cnn, perf/cnn32, every tests/fixtures/arch case, both exports)
# with a wbound binary into one folder of CSVs, so two builds can be compared with `cmp` (speed
# changes must keep the scores bit-identical). Usage: tools/score_fixtures.sh BIN OUT_DIR [THREADS]
set -euo pipefail
bin=$1 out=$2 threads=${3:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
run() { "$bin" score --quiet --threads "$threads" --model "$1" --inputs "$2" --out "$out/$3.csv"; }
run "$root/tests/fixtures/mlp/model.onnx" "$root/tests/fixtures/mlp/x.npy" mlp
run "$root/tests/fixtures/cnn/model.onnx" "$root/tests/fixtures/cnn/x.npy" cnn
run "$root/tests/fixtures/perf/cnn32/model_bias.onnx" "$root/tests/fixtures/perf/cnn32/x.npy" cnn32
for d in "$root"/tests/fixtures/arch/*/; do
  case=$(basename "$d")
  for f in legacy dynamo; do
    run "$d/$f.onnx" "$d/x.npy" "arch_${case}_$f"
  done
done
