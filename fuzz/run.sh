#!/usr/bin/env bash
# Runs one fuzz target for a given time: fuzz/run.sh TARGET [SECONDS] (default 1200).
# The corpus grows in fuzz/corpus/TARGET (not committed), starting from fuzz/seeds/TARGET;
# crashes land in fuzz/artifacts/TARGET; the log, with libFuzzer's final stats, in fuzz/logs.
set -euo pipefail
cd "$(dirname "$0")"
target=$1
seconds=${2:-1200}
case $target in
    onnx) max_len=65536 ;;
    cifar) max_len=8192 ;;
    *) max_len=4096 ;;
esac
mkdir -p "corpus/$target" logs
cargo +nightly fuzz run -O "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -max_len="$max_len" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 2>&1 | tee "logs/$target.log" | grep -E "^(==|INFO: -)|Done|stat::|SUMMARY|panicked" || true
