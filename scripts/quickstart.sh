#!/usr/bin/env bash
# The quick start: build logd, append a few records to a log in ./logd-data and read them back.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product logd
logd=.build/release/logd
printf 'first line\nsecond line\n' | "$logd" append quickstart --sync always
"$logd" append quickstart --key user-42 --header source=quickstart '{"hello": "world"}'
echo "--- logd read quickstart"
"$logd" read quickstart
echo "--- logd read quickstart --format json"
"$logd" read quickstart --format json
echo "--- logd stat quickstart"
"$logd" stat quickstart
"$logd" verify quickstart
