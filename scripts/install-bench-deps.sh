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

missing=()
for package in postgresql libpq-dev; do
  if [[ "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)" != "install ok installed" ]]; then
    missing+=("$package")
  fi
done
if ((${#missing[@]} == 0)); then
  echo "install-bench-deps: postgresql and libpq-dev are installed"
  exit 0
fi
as_root=()
if [[ $(id -u) -ne 0 ]]; then
  as_root=(sudo)
fi
echo "install-bench-deps: installing ${missing[*]}"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
