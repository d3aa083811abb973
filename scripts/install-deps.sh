#!/usr/bin/env bash
# Installs the Debian 12 packages that fundledger builds and tests with. Does nothing (and needs
# no network) when every package is already installed, so that repeated runs are fast.
# With arguments, installs those packages instead (scripts/install-bench-deps.sh uses this).
set -euo pipefail

packages=(
  librocksdb-dev
  capnproto
  libcapnp-dev
  libsodium-dev
  libboost-dev
  nlohmann-json3-dev
  libcli11-dev
  googletest
  libgtest-dev
  cmake
  ninja-build
  g++
  pkg-config
)
if (($# > 0)); then
  packages=("$@")
fi

missing=()
for package in "${packages[@]}"; do
  # `dpkg -s` also succeeds for a removed package whose config files remain; ask for the state.
  state=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  if [[ "$state" != "install ok installed" ]]; then
    missing+=("$package")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages are installed"
  exit 0
fi

as_root=()
if [[ $(id -u) -ne 0 ]]; then
  if ! command -v sudo >/dev/null; then
    echo "install-deps: missing ${missing[*]}; run this script as root to install them" >&2
    exit 1
  fi
  as_root=(sudo)
fi

echo "install-deps: installing ${missing[*]}"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
