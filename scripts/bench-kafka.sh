#!/usr/bin/env bash
# Benchmark of `logd serve` (issue 10) with confluent-kafka, against references measured in
# the same run: `logd append` of the same records and librdkafka's in-memory mock cluster.
#
#   scripts/bench-kafka.sh                                  # 256 MiB of 1 KiB records, 2 rounds
#   BENCH_RECORDS=1048576 BENCH_ROUNDS=3 scripts/bench-kafka.sh   # the issue's 1 GiB
#
# Scenarios and targets: scripts/lib/bench_kafka.py. Knobs: BENCH_RECORDS, BENCH_SIZE (bytes per
# record, default 1024), BENCH_ROUNDS (alternating runs of each side; the best counts),
# BENCH_PRODUCERS (default 64), BENCH_SECONDS (default 5), BENCH_RATE (msg/s for latency, default
# 1000), BENCH_KEEP=1 keeps the work dir. Exits non-zero when a step fails (never for a MISS).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/apt.sh
source scripts/lib/kafka-clients.sh
ensure_apt_packages "${LOGD_BUILD_PACKAGES[@]}"
ensure_kafka_clients

echo "Building logd (swift build -c release)..."
build=(-c release --product logd ${LOGD_SCRATCH_PATH:+--scratch-path "$LOGD_SCRATCH_PATH"})
swift build "${build[@]}" 2>&1 | tail -n 1
logd="$(swift build "${build[@]}" --show-bin-path)/logd"

work=$(mktemp -d "${TMPDIR:-/tmp}/logd-bench-kafka.XXXXXX")
if [ "${BENCH_KEEP:-0}" = 1 ]; then trap 'echo "work dir kept: $work"' EXIT; else trap 'rm -rf "$work"' EXIT; fi

echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
echo "logd:    $logd ($(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
"$LOGD_KAFKA_PYTHON" scripts/lib/bench_kafka.py --logd "$logd" --work "$work" \
    --records "${BENCH_RECORDS:-262144}" --size "${BENCH_SIZE:-1024}" --rounds "${BENCH_ROUNDS:-2}" \
    --producers "${BENCH_PRODUCERS:-64}" --seconds "${BENCH_SECONDS:-5}" --rate "${BENCH_RATE:-1000}"
