#!/usr/bin/env bash
# Benchmark of streaming large transactions while they run (issue 11): `logd ingest postgres`
# with --streaming on (pgoutput protocol 2) against --streaming off (protocol 1), same run.
#
#   scripts/bench-streaming.sh                          # 1,000,000 rows, 2 runs of each mode
#   BENCH_ROWS=200000 BENCH_RUNS=1 scripts/bench-streaming.sh
#
# On a throwaway Postgres 15 (default logical_decoding_work_mem, 64 MB; the streaming clients set
# theirs to BENCH_DECODING_MEMORY, default 1MB as logd's --decoding-memory), for each run, modes
# alternating (off, on, off, on, ...): a fresh slot and log, `logd ingest --sync always` started
# and streaming, then one `INSERT ... SELECT generate_series(1, BENCH_ROWS)` committed by psql.
# Timed from the COMMIT returning to the transaction durable in the log: the slot's
# confirmed_flush_lsn reaching the tx_end_lsn of the log's last record (the ingester acknowledges
# only what an fdatasync covered, within 100 ms of it). Peak RSS of the ingester from GNU time.
# The same-run reference is pg_recvlogical, which does nothing with what it receives: for each run
# and mode it streams the same INSERT (a slot of its own, the same publication, proto_version 2 with
# streaming=on, or 1) into a watcher that notes when the transaction's Commit (or Stream Commit)
# message has arrived whole. The best (lowest) time of each is reported. Targets: streaming at most 1 s
# and at most 0.2x protocol 1; peak RSS at most 64 MiB. LOGD_SCRATCH_PATH builds logd in another scratch
# path; BENCH_KEEP=1 keeps the work dir. Exits non-zero when a step fails (never because of a MISS).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/throwaway-postgres.sh
source scripts/lib/bench.sh

rows=${BENCH_ROWS:-1000000}
decoding_memory=${BENCH_DECODING_MEMORY:-1MB}
runs=${BENCH_RUNS:-2}
rss_target_mib=64

ensure_apt_packages "${LOGD_BUILD_PACKAGES[@]}" "${LOGD_TEST_PACKAGES[@]}" time

echo "Building logd (swift build -c release)..."
build=(-c release --product logd ${LOGD_SCRATCH_PATH:+--scratch-path "$LOGD_SCRATCH_PATH"})
swift build "${build[@]}" 2>&1 | tail -n 1
logd="$(swift build "${build[@]}" --show-bin-path)/logd"

work=$(mktemp -d "${TMPDIR:-/tmp}/logd-bench-streaming.XXXXXX")
if [ "${BENCH_KEEP:-0}" = 1 ]; then on_exit 'echo "work dir kept: $work"'; else on_exit 'rm -rf "$work"'; fi
data=$work/data

throwaway_postgres_start "shared_buffers = 256MB" "checkpoint_timeout = 30min" "autovacuum = off"
echo
echo "machine:  $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
echo "postgres: $(sql 'SHOW server_version'), logical_decoding_work_mem $(sql 'SHOW logical_decoding_work_mem')" \
    "($decoding_memory for the streaming clients)"
echo "logd:     $logd ($(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
echo "load:     one INSERT ... SELECT generate_series(1, $rows), $runs runs of each mode, alternating"
sql "CREATE TABLE bench_rows (id bigint PRIMARY KEY, payload text NOT NULL, amount numeric(12, 2) NOT NULL)"
sql "CREATE PUBLICATION bench FOR ALL TABLES"

time_pid=""
stop_ingest() {
    [ -n "$time_pid" ] || return 0
    # GNU time does not pass SIGTERM on: stop logd, its child, and wait for both.
    pkill -TERM -P "$time_pid" 2>/dev/null || true
    wait "$time_pid" 2>/dev/null || true
    time_pid=""
}
on_exit stop_ingest

declare -A best=() peak=()
run_once() {
    local mode=$1 run=$2 name="stream_$1_$2"
    sql "TRUNCATE bench_rows"
    sql "SELECT 1 FROM pg_create_logical_replication_slot('$name', 'pgoutput')" >/dev/null
    /usr/bin/time -f %M -o "$work/$name.rss" "$logd" ingest postgres "$name" --dir "$data" --dsn "$PG_DSN" \
        --slot "$name" --publication bench --sync always --streaming "$mode" --decoding-memory "$decoding_memory" \
        >"$work/$name.log" 2>&1 &
    time_pid=$!
    wait_for 60 "[ \"\$(sql \"SELECT active FROM pg_replication_slots WHERE slot_name = '$name'\")\" = t ]" \
        "logd ingest ($mode) did not start streaming"
    local start end committed_at durable_at last_end
    sql "INSERT INTO bench_rows SELECT g, md5(g::text), g % 100000 / 100.0 FROM generate_series(1, $rows) g"
    committed_at=$EPOCHREALTIME
    # The last record of the transaction in the log, then its tx_end_lsn acknowledged.
    wait_for 600 "[ \"\$(\"$logd\" stat \"$name\" --dir \"$data\" --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"records\"])' 2>/dev/null)\" = $((rows + 1)) ]" \
        "the transaction did not reach the log ($mode)"
    last_end=$("$logd" read "$name" --dir "$data" --from $rows --format json | python3 -c 'import json,sys
for line in sys.stdin:
    r = json.loads(line)
print(r["headers"]["tx_end_lsn"])')
    wait_for 600 "[ \"\$(sql \"SELECT confirmed_flush_lsn >= '$last_end' FROM pg_replication_slots WHERE slot_name = '$name'\")\" = t ]" \
        "the transaction was not acknowledged ($mode)"
    durable_at=$EPOCHREALTIME
    stop_ingest
    local seconds kib
    seconds=$(calc "$durable_at - $committed_at" %.3f)
    kib=$(tail -n 1 "$work/$name.rss")
    "$logd" verify "$name" --dir "$data" >/dev/null || { echo "FAILED: logd verify $name" >&2; exit 1; }
    echo "  --streaming $(printf '%-3s' "$mode") run $run: $seconds s from COMMIT to durable, peak RSS $((kib / 1024)) MiB"
    if [ -z "${best[$mode]:-}" ] || awk "BEGIN { exit !($seconds < ${best[$mode]}) }"; then best[$mode]=$seconds; fi
    if [ -z "${peak[$mode]:-}" ] || [ "$kib" -gt "${peak[$mode]}" ]; then peak[$mode]=$kib; fi
    sql "SELECT pg_drop_replication_slot('$name')" >/dev/null
    rm -rf "${data:?}/$name"
}

# The reference: the time from COMMIT until pg_recvlogical has received the transaction's last
# message. pg_recvlogical writes each message followed by "\n"; the watcher notes the time once what
# arrived ends with a Commit ("C", 26 bytes) or Stream Commit ("c", 30 bytes) message.
commit_watcher='
import struct, sys, time
out, tail, total = sys.argv[1], b"", 0

def ends_with_commit(tail):
    # Commit: "C", flags, commit LSN, end LSN, time; Stream Commit: "c", xid, then the same. Both
    # binary: the flags byte is 0 and the end LSN just past the commit LSN, which a change message
    # (ending in a text column) never looks like.
    for size, kind in ((26, b"C"), (30, b"c")):
        message = tail[-size - 1:-1]
        if len(message) == size and message[:1] == kind:
            flags, commit, end, when = struct.unpack(">BQQq", message[-25:])
            if flags == 0 and 0 < commit < end < commit + (1 << 20) and when > 0:
                return True
    return False

for chunk in iter(lambda: sys.stdin.buffer.read1(1 << 20), b""):
    total += len(chunk)
    tail = (tail + chunk)[-64:]
    if total > 4096 and tail[-1:] == b"\n" and ends_with_commit(tail):
        with open(out, "w") as f:
            f.write("%.6f\n" % time.time())
'
recv_pid=""
stop_recv() {
    [ -n "$recv_pid" ] || return 0
    kill "$recv_pid" 2>/dev/null || true
    wait "$recv_pid" 2>/dev/null || true
    recv_pid=""
}
on_exit stop_recv
declare -A reference=()
reference_once() {
    local mode=$1 run=$2 name="recv_$1_$2" proto=1 stream_option=() pgoptions=${PGOPTIONS:-}
    # With streaming, the same logical_decoding_work_mem for its walsender as logd sets for its own.
    [ "$mode" = on ] && proto=2 stream_option=(-o streaming=on) pgoptions="$pgoptions -c logical_decoding_work_mem=$decoding_memory"
    sql "TRUNCATE bench_rows"
    sql "SELECT 1 FROM pg_create_logical_replication_slot('$name', 'pgoutput')" >/dev/null
    rm -f "$work/$name.done"
    PGOPTIONS=$pgoptions pg_recvlogical -d "$PG_DSN" --slot "$name" --start -f - -o proto_version=$proto -o publication_names=bench \
        "${stream_option[@]}" | python3 -c "$commit_watcher" "$work/$name.done" &
    recv_pid=$!
    wait_for 60 "[ \"\$(sql \"SELECT active FROM pg_replication_slots WHERE slot_name = '$name'\")\" = t ]" \
        "pg_recvlogical ($mode) did not start streaming"
    local committed_at seconds
    sql "INSERT INTO bench_rows SELECT g, md5(g::text), g % 100000 / 100.0 FROM generate_series(1, $rows) g"
    committed_at=$EPOCHREALTIME
    wait_for 600 "[ -s \"$work/$name.done\" ]" "pg_recvlogical ($mode) did not receive the commit"
    seconds=$(calc "$(cat "$work/$name.done") - $committed_at" %.3f)
    pkill -TERM -f "pg_recvlogical.*--slot $name " 2>/dev/null || true
    stop_recv
    echo "  pg_recvlogical $(printf '%-3s' "$mode") run $run: $seconds s from COMMIT to received"
    if [ -z "${reference[$mode]:-}" ] || awk "BEGIN { exit !($seconds < ${reference[$mode]}) }"; then reference[$mode]=$seconds; fi
    sql "SELECT pg_drop_replication_slot('$name')" >/dev/null
}

echo
for ((run = 1; run <= runs; run++)); do
    run_once off "$run"
    reference_once off "$run"
    run_once on "$run"
    reference_once on "$run"
done

ratio=$(calc "${best[on]} / ${best[off]}")
on_mib=$((peak[on] / 1024))
echo
printf '%-44s %10s %10s %8s\n' "figure" "value" "target" "verdict"
printf '%-44s %10s %10s %8s\n' "protocol 1, COMMIT to durable (best)" "${best[off]} s" "-" "info"
printf '%-44s %10s %10s %8s\n' "streaming, COMMIT to durable (best)" "${best[on]} s" "<=1 s" "$(verdict "${best[on]} <= 1")"
printf '%-44s %10s %10s %8s\n' "streaming / protocol 1" "${ratio}x" "<=0.2x" "$(verdict "$ratio <= 0.2")"
printf '%-44s %10s %10s %8s\n' "pg_recvlogical protocol 1 (best)" "${reference[off]} s" "-" "info"
printf '%-44s %10s %10s %8s\n' "pg_recvlogical streaming (best)" "${reference[on]} s" "-" "info"
printf '%-44s %10s %10s %8s\n' "pg_recvlogical streaming / protocol 1" "$(calc "${reference[on]} / ${reference[off]}")x" "-" "info"
printf '%-44s %10s %10s %8s\n' "logd streaming / pg_recvlogical streaming" "$(calc "${best[on]} / ${reference[on]}")x" "-" "info"
printf '%-44s %10s %10s %8s\n' "peak RSS of the ingester, streaming" "$on_mib MiB" "<=$rss_target_mib MiB" "$(verdict "$on_mib <= $rss_target_mib")"
printf '%-44s %10s %10s %8s\n' "peak RSS of the ingester, protocol 1" "$((peak[off] / 1024)) MiB" "-" "info"
