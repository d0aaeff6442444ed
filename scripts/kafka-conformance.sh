#!/usr/bin/env bash
# librdkafka's own integration tests (tests/test-runner of librdkafka 2.0.2, the version inside
# Debian 12's kcat) against `logd serve`: the tests listed in Tests/kafka-conformance/allow.txt,
# several at a time, against one server started for the run. Which tests are left out, and why:
# Tests/kafka-conformance/FINDINGS.md.
#
#   scripts/kafka-conformance.sh                            # builds logd (release), runs allow.txt
#   LOGD=/path/to/logd scripts/kafka-conformance.sh         # uses that binary, builds nothing of logd
#   scripts/kafka-conformance.sh 0012 0017                  # only these tests (allowed or not)
#
# The suite is fetched once with `apt-get source librdkafka` (a private sources list with the
# machine's Debian suite as deb-src; the machine's apt configuration is not touched), built with
# `./configure --disable-ssl --disable-gssapi --disable-curl --disable-zstd && make libs &&
# make -C tests build` and cached in .build/kafka-conformance/ (rebuilt only when test-runner is
# missing: delete that directory to rebuild). Each test runs as
# `TESTS=NNNN test-runner -L -p1` (no client-local tests) under `timeout`; not in quick mode
# (-Q), which skips every sub-test not marked quick and so passes tests such as 0018 vacuously.
#
# Knobs: LOGD (the logd binary), KAFKA_CONFORMANCE_TIMEOUT (seconds per test, default 120),
# KAFKA_CONFORMANCE_JOBS (tests run at a time, default 4),
# TEST_KAFKA_VERSION (the broker version the tests assume, default the runner's 2.4.0),
# KAFKA_CONFORMANCE_KEEP=0 removes the work dir at the end (default: kept, its path is printed).
# Prints one line per test (PASS, or FAIL with the first failure line) and a summary; exits
# non-zero when a test fails, times out, is skipped by the runner, or the server dies.
# Tests run several at a time against the one server (KAFKA_CONFORMANCE_JOBS), as librdkafka's
# own CI runs them.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
source scripts/lib/apt.sh

cache="$root/.build/kafka-conformance"
version=2.0.2
src="$cache/librdkafka-$version"
runner="$src/tests/test-runner"
timeout_s="${KAFKA_CONFORMANCE_TIMEOUT:-120}"
jobs="${KAFKA_CONFORMANCE_JOBS:-4}"

build_suite() {
    # rapidjson: without it the runner skips the tests that check statistics JSON (0053, 0110, ...).
    ensure_apt_packages dpkg-dev gcc g++ make python3 zlib1g-dev liblz4-dev rapidjson-dev
    mkdir -p "$cache/lists/partial"
    local suite
    suite=$(. /etc/os-release && echo "${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}")
    echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" \
        > "$cache/sources.list"
    local apt=(-o Dir::Etc::SourceList="$cache/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o Dir::State::Lists="$cache/lists")
    echo "Fetching the source of librdkafka $version (apt-get source, $suite)..." >&2
    apt-get "${apt[@]}" update -qq
    rm -rf "$src"
    (cd "$cache" && apt-get "${apt[@]}" source --download-only -qq "librdkafka=$version-1" 2>&1 \
        | grep -v 'Download is performed unsandboxed' || true)
    # (gpgv cannot check the maintainer's signature without debian-keyring: it says so, harmlessly)
    (cd "$cache" && dpkg-source -x "librdkafka_$version-1.dsc" "librdkafka-$version") > "$cache/build.log" 2>&1 \
        || { cat "$cache/build.log" >&2; exit 1; }
    echo "Building librdkafka $version and its test suite (a few minutes)..." >&2
    (cd "$src" && ./configure --disable-ssl --disable-gssapi --disable-curl --disable-zstd \
        >> "$cache/build.log" 2>&1 \
        && make -j"$(nproc)" libs >> "$cache/build.log" 2>&1 \
        && make -j"$(nproc)" -C tests build >> "$cache/build.log" 2>&1) \
        || { tail -n 20 "$cache/build.log" >&2; echo "build failed: $cache/build.log" >&2; exit 1; }
}
[ -x "$runner" ] || build_suite

if [ -z "${LOGD:-}" ]; then
    ensure_apt_packages "${LOGD_BUILD_PACKAGES[@]}"
    echo "Building logd (swift build -c release)..." >&2
    build=(-c release --product logd ${LOGD_SCRATCH_PATH:+--scratch-path "$LOGD_SCRATCH_PATH"})
    swift build "${build[@]}" 2>&1 | tail -n 1
    LOGD="$(swift build "${build[@]}" --show-bin-path)/logd"
    built_here=1
fi
[ -x "$LOGD" ] || { echo "no logd binary at $LOGD" >&2; exit 1; }

if [ $# -gt 0 ]; then
    tests=("$@")
else
    mapfile -t tests < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' Tests/kafka-conformance/allow.txt | grep -v '^$')
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/logd-kafka-conformance.XXXXXX")
server_pid=""
stop_server() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    server_pid=""
}
finish() {
    stop_server
    if [ "${KAFKA_CONFORMANCE_KEEP:-1}" = 1 ]; then echo "work dir (logs): $work"; else rm -rf "$work"; fi
}
trap finish EXIT

# Starts `logd serve` on a free loopback port (port 0: the server prints the one it got) with a
# fresh data dir; sets server_pid and port.
server_runs=0
start_server() {
    server_runs=$((server_runs + 1))
    local data="$work/data.$server_runs" err="$work/logd-serve.$server_runs.stderr" i
    mkdir -p "$data"
    # As the suite's default scenario (tests/scenarios/default.json) configures its broker:
    # auto-created topics, 4 partitions each.
    "$LOGD" serve --dir "$data" --listen 127.0.0.1:0 --auto-create-topics --default-partitions 4 2> "$err" &
    server_pid=$!
    port=""
    for i in $(seq 100); do
        port=$(sed -n 's/^serving .* on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$err")
        [ -n "$port" ] && break
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$port" ] || { cat "$err" >&2; echo "logd serve did not start" >&2; exit 1; }
    echo "bootstrap.servers=127.0.0.1:$port" > "$work/test.conf"
    echo "logd serve: pid $server_pid on 127.0.0.1:$port, data $data, stderr $err"
}

# The first failure line of a test log: the message after the runner's "### Test ... failed" header.
# (awk reads to the end: leaving early would kill sed with SIGPIPE, and pipefail the script.)
first_failure() {
    sed 's/\x1b\[[0-9;]*m//g' "$1" | awk '
        !done && /^### Test .* failed at / { where = $0; sub(/^.* failed at /, "", where); sub(/ at [A-Z][a-z][a-z] .*/, "", where)
                                             getline msg; print where ": " msg; done = 1 }'
}

if [ -n "${built_here:-}" ]; then
    echo "logd:   $LOGD (built from $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
else
    echo "logd:   $LOGD (given; modified $(date -r "$LOGD" '+%F %T'))"
fi
echo "suite:  $runner (librdkafka $version), ${#tests[@]} tests, ${timeout_s}s each, $jobs at a time"
start_server

# Runs test $1 against the server; prints its line (PASS, or FAIL with why) and keeps it in $work/$1.result.
run_test() {
    local n=$1 log="$work/$1.log" s=$SECONDS rc=0 clean why=""
    (cd "$src/tests" && RDKAFKA_TEST_CONF="$work/test.conf" TESTS="$n" \
        LD_LIBRARY_PATH="$src/src:$src/src-cpp" \
        timeout -k 10 "$timeout_s" ./test-runner -L -p1) > "$log" 2>&1 || rc=$?
    # The runner writes a stats file per test into its directory: keep them with the logs.
    find "$src/tests" -maxdepth 1 -name "stats_${n}_*.json" -exec mv {} "$work/stats/" \; || true
    clean=$(sed 's/\x1b\[[0-9;]*m//g' "$log")
    if [ "$rc" = 124 ] || { [ "$rc" = 137 ] && [ $((SECONDS - s)) -ge "$timeout_s" ]; }; then
        why="timed out after ${timeout_s}s"
    elif [ "$rc" != 0 ] || grep -q "^### Test .* failed at " <<< "$clean"; then
        why=$(first_failure "$log"); why="${why:-test-runner exited with $rc}"
    elif ! grep -q "Test ${n}_[a-z0-9_]* PASSED" <<< "$clean"; then
        why="no test ran or passed (skipped): $(grep -o -m 1 "Test ${n}_[a-z0-9_]* SKIPPED.*" <<< "$clean" || true)"
    fi
    if [ -z "$why" ]; then
        printf '%s PASS (%ss)\n' "$n" $((SECONDS - s)) | tee "$work/$n.result"
    else
        printf '%s FAIL (%ss) %s\n' "$n" $((SECONDS - s)) "$why" | tee "$work/$n.result"
    fi
}

# $jobs tests at a time (each its own test-runner; the suite names its topics and groups per
# test, so tests do not see each other's).
mkdir -p "$work/stats"
t0=$SECONDS
pids=()
running() {
    local count=0 pid
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && count=$((count + 1)); done
    echo "$count"
}
for n in "${tests[@]}"; do
    while [ "$(running)" -ge "$jobs" ]; do wait -n || true; done
    echo "=== test $n" >> "$work/logd-serve.$server_runs.stderr"
    run_test "$n" &
    pids+=($!)
done
wait "${pids[@]}" || true
passed=0 failed=0 failures=()
for n in "${tests[@]}"; do
    if grep -q " PASS " "$work/$n.result" 2>/dev/null; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1)); failures+=("$n")
    fi
done
if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "logd serve died during the run: see $work/logd-serve.$server_runs.stderr"
    failed=$((failed + 1))
fi
echo "summary: $passed passed, $failed failed, ${#tests[@]} total in $((SECONDS - t0))s${failures[*]:+ (failed: ${failures[*]})}; logs in $work"
[ "$failed" = 0 ]
