#!/usr/bin/env bash
# Installs what the benchmarks need beyond the build (BENCHMARKS.md): Debian's PostgreSQL server,
# which `fundledger bench pg` and `bench all` start in a temp dir as the PostgreSQL baseline, and
# libpq-dev, without which the build leaves `bench pg` out (rebuild after installing it). Not part
# of scripts/test.sh: the tests skip the baseline when PostgreSQL is missing.
#
# The postgresql package creates the unprivileged user `postgres`; a benchmark run as root starts
# the server as that user, since PostgreSQL refuses to run as root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh
bash scripts/install-deps.sh postgresql libpq-dev
