#!/usr/bin/env python3
"""Commit-to-log latency of a Postgres change stream, from `logd read --follow --format json`.

Reads JSON lines on stdin. For every record that ends a transaction (header `tx_end_lsn`),
latency = the time the line arrived here (time.time()) - source.commit_ts of its envelope
(microseconds since the Unix epoch, the commit time Postgres recorded; for a tombstone, which
has no envelope, the record's timestamp in milliseconds). Both clocks are the same machine's.

Stops at end of input, or at a logical message whose prefix is --stop-prefix (the end marker a
benchmark emits after its load; not measured). Prints one summary line, and the same figures
as `key=value` lines to --summary FILE for scripts.
"""

import argparse
import json
import math
import sys
import time


def percentile(sorted_values, fraction):
    """Nearest-rank percentile of an ascending list (0 < fraction <= 1)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stop-prefix", help="stop at a logical message ('m' record) with this prefix")
    parser.add_argument("--summary", help="also write key=value lines to this file")
    parser.add_argument("--target-p99-ms", type=float, default=100.0)
    args = parser.parse_args()

    latencies_ms = []
    records = 0
    stopped_at_marker = False
    stdin = sys.stdin.buffer
    while True:
        line = stdin.readline()  # returns as soon as a line is there (no block-sized reads)
        if not line:
            break
        arrived = time.time()
        records += 1
        record = json.loads(line)
        headers = record.get("headers") or {}
        if "tx_end_lsn" not in headers:
            continue
        if record.get("value") is None:
            # A tombstone (null value) after a delete ends the transaction: the record's
            # timestamp is the commit time in milliseconds.
            if record.get("timestamp") is not None:
                latencies_ms.append(arrived * 1000.0 - record["timestamp"])
            continue
        envelope = json.loads(record["value"])
        if args.stop_prefix is not None and envelope.get("op") == "m":
            message = envelope.get("message") or {}
            if message.get("prefix") == args.stop_prefix:
                stopped_at_marker = True
                break
        commit_ts = (envelope.get("source") or {}).get("commit_ts")
        if commit_ts is None:
            continue
        latencies_ms.append((arrived - commit_ts / 1e6) * 1000.0)

    latencies_ms.sort()
    count = len(latencies_ms)
    p50 = percentile(latencies_ms, 0.50)
    p99 = percentile(latencies_ms, 0.99)
    worst = latencies_ms[-1] if latencies_ms else float("nan")
    verdict = "PASS" if count and p99 <= args.target_p99_ms else "MISS"
    print(
        f"transactions measured {count} (records read {records}): "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {worst:.1f} ms; "
        f"target p99 <= {args.target_p99_ms:g} ms: {verdict}",
        flush=True,
    )
    if args.summary:
        with open(args.summary, "w") as summary:
            summary.write(
                f"count={count}\nrecords={records}\np50_ms={p50:.1f}\np99_ms={p99:.1f}\n"
                f"max_ms={worst:.1f}\nverdict={verdict}\nmarker={'yes' if stopped_at_marker else 'no'}\n"
            )
    return 0 if count else 1


if __name__ == "__main__":
    sys.exit(main())
