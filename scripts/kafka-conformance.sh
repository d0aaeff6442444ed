#!/usr/bin/env bash
# librdkafka's own integration tests (tests/test-runner of librdkafka 2.0.2, the version inside
# Debian 12's kcat) against `logd serve`: the tests listed in Tests/kafka-conformance/allow.txt,
# several at a time, against one server started for the run. Which tests are left out, and why:
# Tests/kafka-conformance/FINDINGS.md.
#
#   scripts/kafka-conformance.sh                            # builds logd (release), runs allow.txt
#   LOGD=/path/to/logd scripts/kafka-conformance.sh         # uses that binary, builds nothing of logd
#   scripts/kafka-conformance.sh 0012 0017                  # only these tests (allowed or not)
#   scripts/kafka-conformance.sh 0107:noautocreate          # a test in another scenario
#
# The suite is fetched once with `apt-get source librdkafka` (a private sources list with the
# machine's Debian suite as deb-src; the machine's apt configuration is not touched), built with
# `./configure --disable-ssl --disable-gssapi --disable-curl --disable-zstd && make libs &&
# make -C tests build` and cached in .build/kafka-conformance/ (rebuilt only when test-runner is
# missing: delete that directory to rebuild). Each test runs as
# `TESTS=NNNN test-runner -L -p1` (no client-local tests) under `timeout`; not in quick mode
# (-Q), which skips every sub-test not marked quick and so passes tests such as 0018 vacuously.
#
# Knobs: LOGD (the logd binary), KAFKA_CONFORMANCE_TIMEOUT (seconds per test, default 180),
# KAFKA_CONFORMANCE_JOBS (tests run at a time, default 4), KAFKA_CONFORMANCE_TMPFS (default 1:
# the servers' data on /dev/shm),
# TEST_KAFKA_VERSION (the broker version the tests assume, default the runner's 2.4.0),
# KAFKA_CONFORMANCE_KEEP=0 removes the work dir at the end (default: kept, its path is printed).
# A test runs in the suite's scenario it names (tests/scenarios/*.json, the broker setup it needs):
# `default` (topics auto-created) unless allow.txt gives another after its number (`0107
# noautocreate`). Each scenario used gets a server of its own.
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
timeout_s="${KAFKA_CONFORMANCE_TIMEOUT:-180}"
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
    # "NNNN" or "NNNN scenario" per line, as NNNN or NNNN:scenario.
    mapfile -t tests < <(sed -e 's/#.*//' -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' -e 's/[[:space:]][[:space:]]*/:/' \
        Tests/kafka-conformance/allow.txt | grep -v '^$')
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/logd-kafka-conformance.XXXXXX")
# The servers' data directories: on tmpfs (/dev/shm) when there is one, where fdatasync costs
# nothing, so that the suite's latency checks (0055: acks=all answered within linger.ms + 6 ms)
# measure the protocol path rather than this VM's disk. Durability is what logd's own crash tests
# check. KAFKA_CONFORMANCE_TMPFS=0 keeps them in the work dir.
data_root="$work"
if [ "${KAFKA_CONFORMANCE_TMPFS:-1}" = 1 ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
    data_root=$(mktemp -d /dev/shm/logd-kafka-conformance.XXXXXX)
fi
declare -A server_pids=()
stop_servers() {
    local pid
    for pid in "${server_pids[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    server_pids=()
}
finish() {
    stop_servers
    [ "$data_root" = "$work" ] || rm -rf "$data_root"
    if [ "${KAFKA_CONFORMANCE_KEEP:-1}" = 1 ]; then echo "work dir (logs): $work"; else rm -rf "$work"; fi
}
trap finish EXIT

# Starts `logd serve` for scenario $1 on a free loopback port (port 0: the server prints the one it
# got) with a fresh data dir; its pid goes in server_pids, its address in $work/test.$1.conf.
start_server() {
    local scenario=$1 data="$data_root/data.$1" err="$work/logd-serve.$1.stderr" i flags=()
    mkdir -p "$data"
    # As the suite's scenarios (tests/scenarios/*.json) configure their broker: 4 partitions a
    # topic; replication factor 3 accepted (one server: one copy, --max-replication-factor);
    # topics auto-created but in noautocreate.
    case "$scenario" in
        default) flags=(--auto-create-topics) ;;
        noautocreate) flags=() ;;
        *) echo "unknown scenario '$scenario' (default, noautocreate)" >&2; exit 1 ;;
    esac
    "$LOGD" serve --dir "$data" --listen 127.0.0.1:0 "${flags[@]}" --default-partitions 4 \
        --max-replication-factor 3 2> "$err" &
    local server_pid=$!
    server_pids[$scenario]=$server_pid
    local port=""
    for i in $(seq 100); do
        port=$(sed -n 's/^serving .* on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$err")
        [ -n "$port" ] && break
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$port" ] || { cat "$err" >&2; echo "logd serve did not start" >&2; exit 1; }
    echo "bootstrap.servers=127.0.0.1:$port" > "$work/test.$scenario.conf"
    echo "logd serve ($scenario): pid $server_pid on 127.0.0.1:$port, data $data, stderr $err"
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
for t in "${tests[@]}"; do
    scenario=default; [[ "$t" == *:* ]] && scenario=${t#*:}
    [ -n "${server_pids[$scenario]:-}" ] || start_server "$scenario"
done

# Runs test $1 (NNNN or NNNN:scenario) against its scenario's server; prints its line (PASS, or FAIL
# with why) and keeps it in $work/$1.result.
run_test() {
    local t=$1 n=${1%%:*} scenario=default log="$work/$1.log" s=$SECONDS rc=0 clean why=""
    [[ "$t" == *:* ]] && scenario=${t#*:}
    # CI unset: with CI in its environment the runner skips 0055 ("latency measurements not reliable
    # on CI") and triples its own timeouts and sleeps; runs here and in .ci/run are the same run.
    (cd "$src/tests" && env -u CI RDKAFKA_TEST_CONF="$work/test.$scenario.conf" TESTS="$n" \
        LD_LIBRARY_PATH="$src/src:$src/src-cpp" \
        timeout -k 10 "$timeout_s" ./test-runner -L -p1 -s "$scenario") > "$log" 2>&1 || rc=$?
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
        printf '%s PASS (%ss)\n' "$t" $((SECONDS - s)) | tee "$work/$t.result"
    else
        printf '%s FAIL (%ss) %s\n' "$t" $((SECONDS - s)) "$why" | tee "$work/$t.result"
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
    scenario=default; [[ "$n" == *:* ]] && scenario=${n#*:}
    echo "=== test $n" >> "$work/logd-serve.$scenario.stderr"
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
for scenario in "${!server_pids[@]}"; do
    if ! kill -0 "${server_pids[$scenario]}" 2>/dev/null; then
        echo "logd serve ($scenario) died during the run: see $work/logd-serve.$scenario.stderr"
        failed=$((failed + 1))
    fi
done
echo "summary: $passed passed, $failed failed, ${#tests[@]} total in $((SECONDS - t0))s${failures[*]:+ (failed: ${failures[*]})}; logs in $work"
[ "$failed" = 0 ]
