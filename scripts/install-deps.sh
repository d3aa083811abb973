#!/usr/bin/env bash
# Installs the Debian 12 packages that fundledger builds and tests with, then the npm packages of
# package-lock.json (ECharts for the dashboard, playwright-core for the browser test) into
# node_modules/ with `npm ci`. Does nothing (and needs no network) when every package is already
# installed, so that repeated runs are fast. No browser is ever downloaded: the browser test
# drives Debian's chromium.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

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
  chromium
  fonts-wqy-microhei
  nodejs
  # The fuzz targets (scripts/fuzz.sh): clang and its libFuzzer and sanitizer runtimes.
  clang
  libclang-rt-14-dev
)
# npm comes with Debian's npm package, unless the installed nodejs already brings its own (a
# nodejs package that bundles npm conflicts with Debian's npm).
if ! command -v npm >/dev/null; then
  packages+=(npm)
fi

missing=()
for package in "${packages[@]}"; do
  # `dpkg -s` also succeeds for a removed package whose config files remain; ask for the state.
  state=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  if [[ "$state" != "install ok installed" ]]; then
    missing+=("$package")
  fi
done

install_npm_packages() {
  # `npm ci` installs exactly package-lock.json; the copy kept beside node_modules tells whether
  # that has been done for this lock file already.
  local stamp=node_modules/.fundledger-package-lock.json
  if [[ -f "$stamp" ]] && cmp -s package-lock.json "$stamp"; then
    echo "install-deps: npm packages are installed"
    return
  fi
  echo "install-deps: npm ci"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --ignore-scripts
  cp package-lock.json "$stamp"
}

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} Debian packages are installed"
  install_npm_packages
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
install_npm_packages
