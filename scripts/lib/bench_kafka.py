#!/usr/bin/env python3
"""Benchmarks of `logd serve` with confluent-kafka, against references measured in the same run.

Run by scripts/bench-kafka.sh (which builds logd in release mode and makes the clients' venv).
Every figure is a ratio to a reference of the same run: `logd append` of the same records, and
librdkafka's in-memory mock cluster (`test.mock.num.brokers`) driven by the same client code.
Each side runs --rounds times, alternating, and the best (fastest) run of each side counts.

Scenarios (issue 10's targets):
  produce      N records of --size bytes, acks=1, linger.ms 5: >= 0.5x `logd append`, >= 1x mock
  consume      the same records from the beginning: >= 400 MB/s; and as many of the newest
               records as the mock cluster retained (it keeps 5 MiB a partition): >= 1x mock
  acks-all     --producers producers of 100 B records, each waiting for its acknowledgement
               before the next (acks=all): >= 20x one such producer (group commit); once with
               confluent-kafka producers, once with bare sockets sending a pre-encoded Produce,
               and those sockets once more with acks=1 (no fdatasync) and with acks=all to a
               server whose data is in /dev/shm (fdatasync free) as references
  latency      produce-to-consume p99 at --rate msg/s with acks=all: <= 10 ms
  rss          server RSS with 100 idle connections and 10 active consumers: <= 64 MiB
"""

import argparse
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition

MIB = 1 << 20
CONSUME_REPEATS = 10  # alternating reads of the mock's few MiB and as many records from logd serve, per round


def log(message):
    print(message, file=sys.stderr, flush=True)


class Server:
    """`logd serve` on a free loopback port, in its own data directory."""

    def __init__(self, logd, data):
        self.data = data
        self.process = subprocess.Popen(
            [logd, "serve", "--dir", data, "--listen", "127.0.0.1:0", "--auto-create-topics"],
            stderr=subprocess.PIPE, text=True)
        line = self.process.stderr.readline()
        match = re.search(r"serving .* on (\S+)$", line.strip())
        if not match:
            raise SystemExit(f"logd serve did not start: {line}")
        self.bootstrap = match.group(1)
        threading.Thread(target=self.process.stderr.read, daemon=True).start()

    def rss_mib(self):
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


class Mock:
    """librdkafka's mock cluster, hosted by a client that lives as long as this object."""

    def __init__(self):
        self.host = Producer({"test.mock.num.brokers": 1})
        broker = next(iter(self.host.list_topics(timeout=10).brokers.values()))
        self.bootstrap = f"{broker.host}:{broker.port}"


def values(count, size):
    pad = b"x" * size
    return [(b"%012d " % n + pad)[:size] for n in range(count)]


def produce(bootstrap, topic, records, acks="1", linger_ms=5):
    producer = Producer({
        "bootstrap.servers": bootstrap, "acks": acks, "linger.ms": linger_ms, "batch.size": 1 << 20,
        "queue.buffering.max.kbytes": 1 << 20, "enable.idempotence": False})
    failures = []

    def delivered(error, _message):
        if error:
            failures.append(error)

    start = time.perf_counter()
    for value in records:
        while True:
            try:
                producer.produce(topic, value, partition=0, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.01)
    producer.flush(120)
    elapsed = time.perf_counter() - start
    if failures:
        raise SystemExit(f"produce to {bootstrap}: {len(failures)} failed, first: {failures[0]}")
    return elapsed


def consume(bootstrap, topic, count, newest=None):
    """Seconds, bytes and records to receive partition 0 from its oldest record (or its `newest`
    records), at most `count` records. The mock cluster keeps only its newest records (5 MiB or
    100,000 a partition, fixed in librdkafka's rdkafka_mock.c), so it delivers fewer bytes:
    compare rates over the same number of records."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": "bench", "enable.auto.commit": False,
        "fetch.max.bytes": 64 * MIB, "max.partition.fetch.bytes": 16 * MIB, "fetch.wait.max.ms": 100})
    low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    if newest is not None:
        low = max(low, high - newest)
    wanted = min(count, high - low)
    consumer.assign([TopicPartition(topic, 0, low)])
    seen = 0
    total = 0
    start = time.perf_counter()
    while seen < wanted:
        # consume() waits until it has num_messages or its timeout: never ask for more than are left.
        for message in consumer.consume(num_messages=min(10000, wanted - seen), timeout=10):
            if message.error():
                raise SystemExit(f"consume from {bootstrap}: {message.error()}")
            seen += 1
            total += len(message.value())
        if time.perf_counter() - start > 300:
            raise SystemExit(f"consume from {bootstrap}: {seen} of {wanted} after 300 s")
    elapsed = time.perf_counter() - start
    consumer.close()
    return elapsed, total, seen


def acks_all_rate(bootstrap, topic, producers, seconds):
    """Records per second acknowledged by `producers` producers that each wait for every record."""
    counts = [0] * producers
    stop = time.perf_counter() + seconds

    def run(index):
        producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0, "enable.idempotence": False})
        producer.produce(topic, b"warm-up")
        producer.flush(30)
        value = b"v" * 100
        while time.perf_counter() < stop:
            producer.produce(topic, value, partition=0)
            producer.flush(30)
            counts[index] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(producers)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - start)


def crc32c(data):
    table = crc32c.table if hasattr(crc32c, "table") else None
    if table is None:
        table = []
        for n in range(256):
            c = n
            for _ in range(8):
                c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
            table.append(c)
        crc32c.table = table
    crc = 0xFFFFFFFF
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def zigzag(value):
    value = (value << 1) ^ (value >> 63)
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def produce_request(topic, value, correlation, acks=-1):
    """A Produce v3 request (acks=-1 unless asked) of one record batch v2 holding one record, as a client sends it."""
    body = b"\x00" + zigzag(0) + zigzag(0) + zigzag(-1) + zigzag(len(value)) + value + zigzag(0)
    record = zigzag(len(body)) + body
    now = int(time.time() * 1000)
    after_crc = (struct.pack(">hiqqqhii", 0, 0, now, now, -1, -1, -1, 1)) + record
    batch = struct.pack(">qiibI", 0, 4 + 1 + 4 + len(after_crc), -1, 2, crc32c(after_crc)) + after_crc
    name = topic.encode()
    request = (struct.pack(">hhih", 0, 3, correlation, 5) + b"bench" + struct.pack(">hhi", -1, acks, 30000)
               + struct.pack(">ih", 1, len(name)) + name + struct.pack(">iii", 1, 0, len(batch)) + batch)
    return struct.pack(">i", len(request)) + request


def raw_acks_all_rate(bootstrap, topic, connections, seconds, acks=-1):
    """Records per second acknowledged over `connections` sockets that each send one Produce
    (acks=-1, one 100 B record) and wait for its answer before the next: the server's group
    commit without a client library's own costs in the way."""
    host, port = bootstrap.rsplit(":", 1)
    request = produce_request(topic, b"v" * 100, 1, acks)
    counts = [0] * connections
    errors = []
    stop = time.perf_counter() + seconds

    def receive_exactly(sock, count):
        data = bytearray()
        while len(data) < count:
            chunk = sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return bytes(data)

    def run(index):
        with socket.create_connection((host, int(port))) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while time.perf_counter() < stop:
                sock.sendall(request)
                size = struct.unpack(">i", receive_exactly(sock, 4))[0]
                response = receive_exactly(sock, size)
                # correlation id, topics [1], name, partitions [1], index, error code
                name_length = struct.unpack_from(">h", response, 8)[0]
                error = struct.unpack_from(">h", response, 10 + name_length + 4 + 4)[0]
                if error != 0:
                    errors.append(error)
                    return
                counts[index] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(connections)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(f"raw produce: error code {errors[0]}")
    return sum(counts) / (time.perf_counter() - start)


def latency_p99(bootstrap, topic, rate, seconds):
    """Milliseconds from produce() to the consumer's receipt, p99, at `rate` records per second (acks=all)."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": "latency", "enable.auto.commit": False, "fetch.wait.max.ms": 500,
        "fetch.min.bytes": 1, "fetch.queue.backoff.ms": 0})
    consumer.assign([TopicPartition(topic, 0, -1)])  # the end
    consumer.consume(timeout=2)  # positioned
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0, "enable.idempotence": False})
    latencies = []
    done = threading.Event()

    def receive():
        while not done.is_set() or len(latencies) < sent[0]:
            message = consumer.poll(0.5)  # each record as soon as it is there (consume() waits for a full batch)
            if message is not None and not message.error():
                latencies.append((time.time_ns() - int(message.value())) / 1e6)
            if done.is_set() and time.perf_counter() > deadline[0]:
                break

    sent = [0]
    deadline = [float("inf")]
    receiver = threading.Thread(target=receive)
    receiver.start()
    interval = 1.0 / rate
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        target = start + sent[0] * interval
        now = time.perf_counter()
        if target > now:
            time.sleep(target - now)
        producer.produce(topic, str(time.time_ns()).encode(), partition=0)
        producer.poll(0)
        sent[0] += 1
    producer.flush(30)
    deadline[0] = time.perf_counter() + 10
    done.set()
    receiver.join()
    consumer.close()
    latencies.sort()
    if not latencies:
        return float("nan"), 0
    return latencies[max(0, int(len(latencies) * 0.99) - 1)], len(latencies)


def rss_under_load(server, topic, count):
    idle = []
    for _ in range(100):
        host, port = server.bootstrap.rsplit(":", 1)
        idle.append(socket.create_connection((host, int(port))))
    stop = threading.Event()

    def consume_loop():
        consumer = Consumer({"bootstrap.servers": server.bootstrap, "group.id": "rss", "enable.auto.commit": False})
        consumer.assign([TopicPartition(topic, 0, 0)])
        while not stop.is_set():
            for message in consumer.consume(num_messages=10000, timeout=1):
                if message.error() is None and message.offset() >= count - 1:
                    consumer.seek(TopicPartition(topic, 0, 0))
        consumer.close()

    threads = [threading.Thread(target=consume_loop) for _ in range(10)]
    for thread in threads:
        thread.start()
    peak = 0.0
    for _ in range(20):
        time.sleep(0.5)
        peak = max(peak, server.rss_mib())
    stop.set()
    for thread in threads:
        thread.join()
    for connection in idle:
        connection.close()
    return peak


def row(name, value, unit, reference, ratio, target, passed):
    print(f"{name:<28} {value:>12} {unit:<6} ref {reference:<34} ratio {ratio:<7} target {target:<14} "
          f"{'PASS' if passed else 'MISS'}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logd", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--records", type=int, default=262144)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--producers", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rate", type=int, default=1000)
    args = parser.parse_args()

    records = values(args.records, args.size)
    megabytes = args.records * args.size / MIB
    lines = os.path.join(args.work, "records.txt")
    with open(lines, "wb") as out:
        for value in records:
            out.write(value[:-1] + b"\n")  # logd append: one record per line, the same size

    append_best = serve_best = mock_best = float("inf")
    consume_serve_best = consume_mock_best = consume_newest_best = 0.0  # MB/s
    for round_number in range(args.rounds):
        log(f"round {round_number + 1} of {args.rounds}: logd append, logd serve, mock cluster")
        data = os.path.join(args.work, f"append-{round_number}")
        start = time.perf_counter()
        with open(lines, "rb") as stdin:
            subprocess.run(
                [args.logd, "append", "--dir", data, "bench"], stdin=stdin, stdout=subprocess.DEVNULL, check=True)
        append_best = min(append_best, time.perf_counter() - start)

        server = Server(args.logd, os.path.join(args.work, f"serve-{round_number}"))
        serve_best = min(serve_best, produce(server.bootstrap, "bench", records))
        elapsed, total, _ = consume(server.bootstrap, "bench", args.records)
        consume_serve_best = max(consume_serve_best, total / MIB / elapsed)

        mock = Mock()
        mock_best = min(mock_best, produce(mock.bootstrap, "bench", records))
        # The mock's few MiB take milliseconds to read: alternate it with logd serve reading as many
        # of its newest records, a few times each.
        for _ in range(CONSUME_REPEATS):
            elapsed, total, retained = consume(mock.bootstrap, "bench", args.records)
            consume_mock_best = max(consume_mock_best, total / MIB / elapsed)
            log(f"  mock consume: {total / MIB:.1f} MiB retained ({retained} records), read in {elapsed * 1000:.1f} ms")
            elapsed, total, _ = consume(server.bootstrap, "bench", args.records, newest=retained)
            consume_newest_best = max(consume_newest_best, total / MIB / elapsed)
            log(f"  logd serve, its newest {retained} records: {total / MIB:.1f} MiB in {elapsed * 1000:.1f} ms")
        del mock
        server.stop()

    rate = lambda seconds: megabytes / seconds
    serve_rate = rate(serve_best)
    row("produce-1KiB-acks1", f"{serve_rate:.0f}", "MB/s", f"logd append {rate(append_best):.0f} MB/s",
        f"{serve_rate / rate(append_best):.2f}", ">= 0.5", serve_rate / rate(append_best) >= 0.5)
    row("produce-1KiB-acks1-vs-mock", f"{serve_rate:.0f}", "MB/s", f"mock cluster {rate(mock_best):.0f} MB/s",
        f"{serve_rate / rate(mock_best):.2f}", ">= 1", serve_rate / rate(mock_best) >= 1)
    row("consume-from-start", f"{consume_serve_best:.0f}", "MB/s", f"mock cluster {consume_mock_best:.0f} MB/s",
        f"{consume_serve_best / consume_mock_best:.2f}", ">= 400 MB/s", consume_serve_best >= 400)
    # Like for like: as many records as the mock retained, from each.
    row("consume-mock-volume", f"{consume_newest_best:.0f}", "MB/s", f"mock cluster {consume_mock_best:.0f} MB/s",
        f"{consume_newest_best / consume_mock_best:.2f}", ">= 1", consume_newest_best >= consume_mock_best)

    server = Server(args.logd, os.path.join(args.work, "serve-acks"))
    log(f"acks=all: 1 producer, then {args.producers}, {args.seconds} s each")
    one = acks_all_rate(server.bootstrap, "acks", 1, args.seconds)
    many = acks_all_rate(server.bootstrap, "acks", args.producers, args.seconds)
    row(f"acks-all-{args.producers}-producers", f"{many:.0f}", "rec/s", f"1 producer {one:.0f} rec/s",
        f"{many / one:.1f}", ">= 20", many / one >= 20)
    # The same with bare sockets (a pre-encoded Produce each), without librdkafka's costs.
    raw_one = raw_acks_all_rate(server.bootstrap, "acks", 1, args.seconds)
    raw_many = raw_acks_all_rate(server.bootstrap, "acks", args.producers, args.seconds)
    row(f"acks-all-{args.producers}-connections-raw", f"{raw_many:.0f}", "rec/s", f"1 connection {raw_one:.0f} rec/s",
        f"{raw_many / raw_one:.1f}", ">= 20", raw_many / raw_one >= 20)
    # What the same connections get with no fdatasync at all (acks=1): when acks=all is as fast,
    # group commit has taken durability's cost away and the requests themselves are the limit.
    raw_acks1 = raw_acks_all_rate(server.bootstrap, "acks", args.producers, args.seconds, acks=1)
    print(f"{'  same, acks=1 (no sync)':<28} {raw_acks1:>12.0f} rec/s  acks=all / acks=1: {raw_many / raw_acks1:.2f}",
          flush=True)
    # And acks=all with the data in memory (/dev/shm: fdatasync costs nothing): what this client and
    # server reach when the disk is out of the way, the ceiling of the 64-connection figure.
    if os.path.isdir("/dev/shm"):
        memory = Server(args.logd, os.path.join("/dev/shm", os.path.basename(args.work) + "-acks"))
        try:
            shm_one = raw_acks_all_rate(memory.bootstrap, "acks", 1, args.seconds)
            shm_many = raw_acks_all_rate(memory.bootstrap, "acks", args.producers, args.seconds)
        finally:
            memory.stop()
            shutil.rmtree(memory.data, ignore_errors=True)
        print(f"{'  same, in /dev/shm':<28} {shm_many:>12.0f} rec/s  (1 connection {shm_one:.0f}); "
              f"on disk / in memory: {raw_many / shm_many:.2f}", flush=True)

    # The acks=all scenarios above leave hundreds of MB to write back: each fdatasync here would
    # wait behind that writeback. Synced first, so that this measures the latency at this rate.
    os.sync()
    log(f"latency: {args.rate} msg/s, acks=all, {args.seconds * 2} s (after a sync of the scenarios before)")
    p99, received = latency_p99(server.bootstrap, "latency", args.rate, args.seconds * 2)
    row("produce-to-consume-p99", f"{p99:.1f}", "ms", f"{received} records at {args.rate}/s", "-", "<= 10 ms", p99 <= 10)

    log("RSS: 100 idle connections, 10 consumers reading the acks topic in a loop")
    peak = rss_under_load(server, "acks", 1000)
    row("rss-100-idle-10-consumers", f"{peak:.0f}", "MiB", "-", "-", "<= 64 MiB", peak <= 64)
    server.stop()


if __name__ == "__main__":
    main()
