#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang in build-fuzz/ (ASan + UBSan) and runs
# each for a while, one after another:
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET [TARGET...]]
#
# 20 seconds per target by default (the short run of scripts/test.sh); the long mode is the same
# with more time, e.g. `nice -n 19 scripts/fuzz.sh 3600`. Each target starts from its seeds in
# tests/fuzz/corpus/TARGET/ (never written) and what earlier runs found in
# build-fuzz/corpus/TARGET/ (kept between runs). A crash stops the target and the script (exit
# 1), leaving the input in build-fuzz/crashes/TARGET/; reproduce it with
#   build-fuzz/tests/fuzz/TARGET build-fuzz/crashes/TARGET/crash-...
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${1:-20}
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(fuzz_envelope_capnp fuzz_event_json fuzz_csv_import fuzz_checkpoint fuzz_http_request)
fi

CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" -DFUNDLEDGER_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null
cmake --build build-fuzz -j2 --target "${targets[@]}"

for target in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$target" "build-fuzz/crashes/$target"
  echo "fuzz: $target for ${seconds}s"
  # -timeout: an input that takes 10 s is a finding; -max_len: bodies of 64 KiB reach every
  # limit the decoders check per item.
  status=0
  "build-fuzz/tests/fuzz/$target" "build-fuzz/corpus/$target" "tests/fuzz/corpus/$target" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="build-fuzz/crashes/$target/" -print_final_stats=1 \
    >"build-fuzz/$target.log" 2>&1 || status=$?
  grep -aE 'stat::number_of_executed_units|stat::average_exec_per_sec|^#[0-9]+ +DONE' \
    "build-fuzz/$target.log" || true
  if ((status != 0)); then
    tail -n 60 "build-fuzz/$target.log" >&2
    echo "fuzz: $target failed; the input is in build-fuzz/crashes/$target/" >&2
    exit 1
  fi
done
