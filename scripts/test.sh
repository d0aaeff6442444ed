#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs the system packages the
# project needs (when missing), then builds and runs every test target.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/lib/apt.sh
# postgresql-15: the PostgresCDC tests start a throwaway Postgres 15 of their own.
ensure_apt_packages "${LOGD_BUILD_PACKAGES[@]}" "${LOGD_TEST_PACKAGES[@]}"

swift build --build-tests
swift test --skip-build "$@"
