#!/usr/bin/env bash
# The demonstration ledger, from nothing: installs the dependencies, builds fundledger (Release),
# creates the demo ledger of seven regions' renovation programmes in ./demo-data with
# `fundledger demo --seed 1` (every organisation's key in ./demo-data/keys), verifies the whole
# ledger and prints its signed checkpoint. Every run starts again from an empty ./demo-data, and
# the same seed gives the same events.
#
# Governments, utilities and the enterprises named in the seed documents are real; contractors,
# credit codes, compounds, amounts and document numbers are invented.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF
cmake --build build-release -j2 --target fundledger
fundledger=build-release/tools/fundledger
data=demo-data

rm -rf "$data"

echo "== demo: organisations, policies, projects and their money, 2019-01 to 2026-10"
"$fundledger" demo --data "$data" --seed 1

echo "== records from the middle of the journal (seq, day recorded, type, id, signer)"
"$fundledger" log --data "$data" --from 4000 --limit 12 --format table

echo "== verify: every record, signature, rule, balance and checkpoint, against the log's key"
"$fundledger" verify --data "$data" --log-key "$data/keys/log.pub"

echo "== the signed checkpoint (verify it with $data/keys/log.pub)"
"$fundledger" checkpoint --data "$data"
