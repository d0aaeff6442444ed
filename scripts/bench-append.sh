#!/usr/bin/env bash
# Speed and CPU cost of `logd append` from standard input (issue 12) as ratios to `dd` writing the
# same bytes, in the same run: how fast a new user's first bulk load is next to the disk's own pace.
#
#   scripts/bench-append.sh                     # 500 MB of 1 KiB lines, 5 alternating rounds
#   BENCH_MB=100 BENCH_ROUNDS=3 scripts/bench-append.sh
#
# One file of lines (base64 text, 1024 bytes a line with its newline) is made once and stays in the
# page cache. Each round runs, in alternating order, `dd if=FILE of=OUT bs=1M conv=fdatasync` and
# `logd append --quiet --sync never LOG < FILE` into a fresh log. logd is durable when it exits:
# closing the log fdatasyncs the active store and seals its index (msync, fdatasync), and every
# earlier segment was synced when it rolled, so its time stops where dd's final fdatasync does.
# Wall time and CPU time (user + system, bash's `time`) of each; the best (lowest) of the rounds
# counts, as noise on these shared machines only ever adds time. Knobs: BENCH_MB (default 500),
# BENCH_ROUNDS (default 5), LOGD (a logd binary; default: a release build).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/apt.sh
ensure_apt_packages "${LOGD_BUILD_PACKAGES[@]}" bc

if [ -z "${LOGD:-}" ]; then
    echo "Building logd (swift build -c release)..." >&2
    swift build -c release --product logd 2>&1 | tail -n 1
    LOGD="$(swift build -c release --show-bin-path)/logd"
fi
mb="${BENCH_MB:-500}" rounds="${BENCH_ROUNDS:-5}"
work=$(mktemp -d "${TMPDIR:-/tmp}/logd-bench-append.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); logd: $LOGD"
echo "making $mb MB of 1 KiB lines in $work..."
# 750 random bytes encode to 1000 base64 characters; lines of 1023 of them plus "\n" are 1 KiB.
head -c $((mb * 750000)) /dev/urandom | base64 -w 1023 > "$work/lines"
bytes=$(stat -c %s "$work/lines")
cat "$work/lines" > /dev/null

# Runs "$@" and prints "wall cpu" (seconds; cpu = user + system of the command and its children).
measure() {
    local TIMEFORMAT='%R %U %S' line
    line=$({ time "$@" > /dev/null; } 2>&1 | tail -n 1)
    read -r wall user system <<< "$line"
    echo "$wall $(echo "$user + $system" | bc)"
}
run_dd() { dd if="$work/lines" of="$work/dd.out" bs=1M conv=fdatasync status=none; }
run_logd() { "$LOGD" append --dir "$work/data" bench --quiet --sync never < "$work/lines"; }

dd_walls="" dd_cpus="" logd_walls="" logd_cpus="" records=""
for round in $(seq "$rounds"); do
    order=(dd logd)
    [ $((round % 2)) -eq 0 ] && order=(logd dd)
    for side in "${order[@]}"; do
        rm -rf "$work/data" "$work/dd.out"
        sync -f "$work"
        read -r wall cpu <<< "$(measure "run_$side")"
        printf 'round %d %-4s %7.3f s wall %7.3f s cpu\n' "$round" "$side" "$wall" "$cpu"
        if [ "$side" = dd ]; then
            dd_walls+="$wall " dd_cpus+="$cpu "
        else
            logd_walls+="$wall " logd_cpus+="$cpu "
            records=$("$LOGD" stat --dir "$work/data" bench | awk '/^next offset:/ {print $3}')
        fi
    done
done

best() { tr ' ' '\n' <<< "$1" | grep . | sort -n | head -n 1; }
dd_wall=$(best "$dd_walls") dd_cpu=$(best "$dd_cpus") logd_wall=$(best "$logd_walls") logd_cpu=$(best "$logd_cpus")
echo
printf '%-34s %10s %10s %10s\n' "" "wall s" "MB/s" "cpu s"
printf '%-34s %10.3f %10.0f %10.3f\n' "dd bs=1M conv=fdatasync" "$dd_wall" "$(echo "$bytes / $dd_wall / 1000000" | bc -l)" "$dd_cpu"
printf '%-34s %10.3f %10.0f %10.3f\n' "logd append --sync never" "$logd_wall" \
    "$(echo "$bytes / $logd_wall / 1000000" | bc -l)" "$logd_cpu"
printf 'throughput: %.2fx dd (target at least 0.70x); cpu: %.2fx dd (target at most 1.50x)\n' \
    "$(echo "$dd_wall / $logd_wall" | bc -l)" "$(echo "$logd_cpu / $dd_cpu" | bc -l)"
echo "(best of $rounds alternating rounds each; $bytes bytes, ${records:-?} records)"
