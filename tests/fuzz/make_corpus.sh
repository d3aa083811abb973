#!/usr/bin/env bash
# Rebuilds the seed corpora of tests/fuzz/corpus/ from the hostile catalogue (every request the
# runner sends, signed as it sends them) and the import test files. Run from the top of a
# checkout after building build/ (RelWithDebInfo):
#
#   tests/fuzz/make_corpus.sh
#
# Seeds over 64 KiB are left out (the fuzzers' -max_len). The checkpoint seeds are hand-written
# files of tests/fuzz/corpus/fuzz_checkpoint/ and are kept as they are.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

dump=$(mktemp -d)
trap 'rm -rf "$dump"' EXIT
FL_HOSTILE_DUMP="$dump" build/tests/hostile_test --gtest_filter='*EveryCase*' >/dev/null

corpus=tests/fuzz/corpus
rm -rf "$corpus/fuzz_http_request" "$corpus/fuzz_event_json" "$corpus/fuzz_envelope_capnp" \
  "$corpus/fuzz_csv_import"
mkdir -p "$corpus/fuzz_http_request" "$corpus/fuzz_event_json" "$corpus/fuzz_envelope_capnp" \
  "$corpus/fuzz_csv_import"
small() { [[ $(stat -c %s "$1") -le 65536 ]]; }
for request in "$dump"/*.http; do
  name=$(basename "$request" .http)
  small "$request" && cp "$request" "$corpus/fuzz_http_request/$name"
  body="$dump/$name.body"
  [[ -f "$body" ]] && small "$body" || continue
  if grep -qa '^Content-Type: application/x-capnp' "$request"; then
    cp "$body" "$corpus/fuzz_envelope_capnp/$name"
  elif grep -qa '^Content-Type: application/json' "$request"; then
    cp "$body" "$corpus/fuzz_event_json/$name"
  fi
done
cp tests/data/import/*.csv "$corpus/fuzz_csv_import/"
for target in fuzz_http_request fuzz_event_json fuzz_envelope_capnp fuzz_csv_import \
  fuzz_checkpoint; do
  echo "$target: $(ls "$corpus/$target" | wc -l) seeds"
done
