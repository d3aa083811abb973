#!/usr/bin/env bash
# The test suite under sanitizers (README.md, "Tests"), after scripts/test.sh's dependencies.
#   scripts/test-sanitizers.sh asan   AddressSanitizer + UndefinedBehaviorSanitizer + leaks, the
#                                     whole suite but the browser and benchmark tests (build-asan)
#   scripts/test-sanitizers.sh tsan   ThreadSanitizer, the server's and the verifier's
#                                     concurrency tests (build-tsan)
# Both build at -O1 with line tables only: the sanitizers' usual optimisation level, and the
# quickest build that still names file and line in every report.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

kind="${1:-asan}"
flags=(-G Ninja -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g1")
case "$kind" in
  asan)
    cmake -S . -B build-asan "${flags[@]}" -DFUNDLEDGER_SANITIZE=address,undefined
    cmake --build build-asan -j2
    # The browser test drives chromium (nothing of ours is instrumented there); the benchmark
    # tests measure speed, which an instrumented build does not have.
    ASAN_OPTIONS=detect_leaks=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1 \
      UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      ctest --test-dir build-asan --output-on-failure -j2 -E '^browser\.|^BenchAll\.' --timeout 600
    ;;
  tsan)
    cmake -S . -B build-tsan "${flags[@]}" -DFUNDLEDGER_SANITIZE=thread
    cmake --build build-tsan -j2 --target api_test ledger_test tools_test
    TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/sanitizers/tsan.supp" \
      ctest --test-dir build-tsan --output-on-failure --timeout 600 \
      -R '^(ServerTest|DurabilityTest|ReadGate|Durability|VerifyTest|ServeTest|SubmitTest|WorkAhead)\.|^Journal\.(SignaturesCheckedAhead|AppendInBatches)'
    ;;
  *)
    echo "usage: $0 asan|tsan" >&2
    exit 2
    ;;
esac
