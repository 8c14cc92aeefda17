#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time: new inputs go to a work directory (the seeds in
# the source tree stay as they are), a crashing input to the artifact directory.
# usage: run_libfuzzer.sh <fuzzer> <seed corpus> <work dir> <artifact dir> <seconds>
set -eu
fuzzer=$1 seeds=$2 work=$3 artifacts=$4 seconds=$5
if [ ! -x "$fuzzer" ]; then
    echo "no libFuzzer binary at $fuzzer (built by the rmqtt_fuzz_clang target)" >&2
    exit 1
fi
mkdir -p "$work" "$artifacts"
name=$(basename "$fuzzer")
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/$name-" "$work" "$seeds"
