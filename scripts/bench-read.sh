#!/usr/bin/env bash
# Speed of `logd read --format json` (issue 15) as a ratio to `--format text` of the same log, in
# the same run: JSON output must escape and check every byte that text output copies as it is.
#
#   scripts/bench-read.sh                       # 500 MB of 1 KiB records, 3 alternating rounds
#   BENCH_MB=100 BENCH_ROUNDS=5 scripts/bench-read.sh
#
# Two logs: lines of base64 text (no byte to escape: the common case of text values) and lines of
# JSON documents such as a CDC log holds (a quote to escape every few bytes). Each round reads each
# log as text, as json and as json with --value-format json, into /dev/null; the best (lowest) time
# of each counts, as these shared machines drift. Knobs: BENCH_MB (default 500), BENCH_SIZE (bytes
# a record, default 1024), BENCH_ROUNDS (default 3), LOGD (a logd binary; default: a release build).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/apt.sh
ensure_apt_packages "${LOGD_BUILD_PACKAGES[@]}" python3 bc

if [ -z "${LOGD:-}" ]; then
    echo "Building logd (swift build -c release)..." >&2
    swift build -c release --product logd 2>&1 | tail -n 1
    LOGD="$(swift build -c release --show-bin-path)/logd"
fi
mb="${BENCH_MB:-500}" size="${BENCH_SIZE:-1024}" rounds="${BENCH_ROUNDS:-3}"
work=$(mktemp -d "${TMPDIR:-/tmp}/logd-bench-read.XXXXXX")
trap 'rm -rf "$work"' EXIT
count=$((mb * 1000 * 1000 / size))

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); logd: $LOGD"
echo "making two logs of $count records of $size bytes ($mb MB each)..."
python3 - "$count" "$size" "$work" <<'PY'
import base64, json, os, random, sys
count, size, work = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = random.Random(7)
with open(os.path.join(work, "text.lines"), "w") as text, open(os.path.join(work, "json.lines"), "w") as docs:
    for n in range(count):
        text.write(base64.b64encode(rng.randbytes(size))[: size - 1].decode() + "\n")
        row = {"op": "u", "table": "public.orders", "after": {"id": n, "customer": "c-%d" % rng.randrange(10**6),
               "note": "", "amount": rng.randrange(10**6) / 100, "tags": ["a", "b"]}}
        line = json.dumps(row)
        line = line.replace('"note": ""', '"note": "%s"' % ("x" * max(0, size - 1 - len(line))))
        docs.write(line + "\n")
PY
for kind in text json; do
    "$LOGD" append --dir "$work/data" "$kind" --sync never --quiet < "$work/$kind.lines"
    rm "$work/$kind.lines"
done

best() { sort -n | head -n 1; }
declare -A times
for round in $(seq "$rounds"); do
    for kind in text json; do
        for mode in "text" "json" "json --value-format json"; do
            s=$(date +%s.%N)
            # shellcheck disable=SC2086
            "$LOGD" read --dir "$work/data" "$kind" --format $mode > /dev/null
            e=$(date +%s.%N)
            times["$kind/$mode"]+="$(echo "$e - $s" | bc) "
        done
    done
done
printf '%-14s %-28s %10s %10s %8s\n' log output seconds MB/s "x text"
for kind in text json; do
    text_best=$(tr ' ' '\n' <<< "${times[$kind/text]}" | grep . | best)
    for mode in "text" "json" "json --value-format json"; do
        t=$(tr ' ' '\n' <<< "${times[$kind/$mode]}" | grep . | best)
        printf '%-14s %-28s %10.3f %10.0f %8.2f\n' "$kind values" "--format $mode" "$t" \
            "$(echo "$mb / $t" | bc -l)" "$(echo "$text_best / $t" | bc -l)"
    done
done
echo "(best of $rounds alternating rounds each; target: --format json at least 0.50x text)"
