#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs the system packages the
# project needs (when missing), then builds and runs every test target.
set -euo pipefail
cd "$(dirname "$0")/.."

# postgresql-15: the PostgresCDC tests start a throwaway Postgres 15 of their own.
packages=(zlib1g-dev postgresql-15)
missing=()
for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi

swift build --build-tests
swift test --skip-build "$@"
