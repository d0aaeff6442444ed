#!/usr/bin/env python3
"""Drives one real Kafka client against a broker (`logd serve`), for the compatibility tests.

    kafka_clients.py CLIENT ACTION --bootstrap HOST:PORT [options]

CLIENT is kafka-python, confluent-kafka or aiokafka (pinned in requirements.txt beside this file;
scripts/lib/kafka-clients.sh installs them into a venv and exports LOGD_KAFKA_PYTHON). ACTION:

    metadata       [--topic T]                    {"brokers": [[id, host, port]...], "topics": {name: partitions}}
    produce        --topic T [--acks 0|1|all] [--idempotent] [--compression C] [--linger-ms N]
                   stdin: one {"key", "value", "headers", "timestamp"} per line; prints {"offset": N|null} each
    consume        --topic T --count N [--from earliest|latest|offset:N|timestamp:MS] [--isolation I]
                   partition 0 assigned (no group); prints each record, and {"ready": true} first for latest
    transact       --topic T --transactional-id ID [--end commit|abort|none] [--transaction-timeout-ms N]
                   stdin as produce, all in one transaction on partition 0; prints {"offset": N} each, then
                   {"ended": commit|abort}; with none the process exits with the transaction open
    group-consume  --topic T --group G --count N [--commit sync|none] [--assignor A] [--from earliest|latest]
                   prints each record, then {"committed": next_offset}, then leaves the group
    group-member   --topic T --group G --hold SECONDS [--assignor A] [--from earliest|latest]
                   prints {"assigned": [partitions]} on every change of assignment and each record
    committed      --topic T --group G             {"offset": N|null, "metadata": str|null} of partition 0
    commit         --topic T --group G --offset N [--metadata S]   simple (generation -1) commit: {"committed": N}
    create-topic   --topic T [--partitions N] [--replication R] [--config K=V]... [--validate-only]
                   CreateTopics through the client's admin API: {"topic": T, "error_code": N, "message": str|null}
    create-partitions --topic T --count N         CreatePartitions (the topic grows to N partitions):
                                                  {"topic": T, "error_code": N, "message": str|null}
    delete-topic   --topic T                      DeleteTopics through the admin API: {"topic": T, "error_code": N}
    describe-configs --topic T                    DescribeConfigs (confluent-kafka only): {"error_code": N, "message": str|null,
                                                  "configs": {key: value}, "defaults": [keys left at their default]}
    alter-configs  --topic T [--config K=V]...    AlterConfigs (confluent-kafka only): {"error_code": N, "message": str|null}

A record prints as {"offset", "key", "value", "headers": [[name, value]...], "timestamp"}. Keys,
values and header values are hex strings (null for null), so data round-trips byte for byte.
stdout carries JSON lines only; diagnostics go to stderr. Exit 0 on success; otherwise 1 (2 for a
usage error) with a one-line error on stderr. Every action fails after --timeout seconds (default
30) rather than hang; for group-member the timeout counts from the end of --hold.
"""

import argparse
import asyncio
import json
import logging
import os
import sys
import threading
import time

CLIENTS = ("kafka-python", "confluent-kafka", "aiokafka")
ASSIGNORS = ("range", "roundrobin", "cooperative-sticky")
COMPRESSIONS = ("none", "gzip", "snappy", "lz4", "zstd")
PROGRAM = "kafka_clients.py"


class Failure(Exception):
    """A failure worth a one-line message (no traceback)."""


# --- output ----------------------------------------------------------------------------------

_emit_lock = threading.Lock()  # kafka-python 3 runs rebalance listeners on its IO thread


def emit(obj):
    with _emit_lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()  # a test reacts to lines as they come ({"ready": true})


def to_hex(data):
    return None if data is None else bytes(data).hex()


def from_hex(text, what):
    if text is None:
        return None
    try:
        return bytes.fromhex(text)
    except (TypeError, ValueError):
        raise Failure(f"{what}: not a hex string: {text!r}") from None


def emit_record(offset, key, value, headers, timestamp):
    emit({
        "offset": offset,
        "key": to_hex(key),
        "value": to_hex(value),
        "headers": [[name, to_hex(data)] for name, data in (headers or [])],
        "timestamp": timestamp,
    })


def offset_or_null(offset):
    """Clients report an unknown offset (acks=0, nothing committed) as -1 or -1001."""
    return offset if offset is not None and offset >= 0 else None


class Progress:
    """What the action is doing, for the timeout message; and its deadline."""

    def __init__(self, timeout):
        self.deadline = time.monotonic() + timeout
        self.doing = "starting"
        self.records = 0

    def remaining(self):
        return max(self.deadline - time.monotonic(), 0.0)

    def remaining_ms(self):
        return max(int(self.remaining() * 1000), 1)

    def expired(self):
        return time.monotonic() >= self.deadline

    def timed_out(self, count=None):
        got = f"{self.records} of {count} records, " if count is not None else ""
        return Failure(f"timed out ({got}while {self.doing})")


def read_messages():
    """The produce action's stdin: one JSON object per non-empty line."""
    messages = []
    for number, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as error:
            raise Failure(f"stdin line {number}: not JSON: {error}") from None
        if not isinstance(obj, dict):
            raise Failure(f"stdin line {number}: not a JSON object")
        headers = []
        for header in obj.get("headers") or []:
            if not (isinstance(header, list) and len(header) == 2 and isinstance(header[0], str)):
                raise Failure(f"stdin line {number}: a header is not [name, hex]: {header!r}")
            headers.append((header[0], from_hex(header[1], f"stdin line {number} header {header[0]}")))
        messages.append({
            "key": from_hex(obj.get("key"), f"stdin line {number} key"),
            "value": from_hex(obj.get("value"), f"stdin line {number} value"),
            "headers": headers,
            "timestamp": obj.get("timestamp"),
        })
    return messages


class Membership:
    """The assignment a rebalance listener sees: eager protocols revoke everything and assign
    the new set, cooperative ones revoke and assign only what moves; current -= revoked,
    current |= assigned covers both. Prints {"assigned": [...]} whenever it changes."""

    def __init__(self, topic):
        self.topic = topic
        self.current = set()
        self.printed = None
        self.lock = threading.RLock()  # kafka-python 3 calls listeners on its IO thread

    def revoked(self, partitions):
        with self.lock:
            self.current -= {p for t, p in partitions if t == self.topic}

    def assigned(self, partitions):
        with self.lock:
            self.current |= {p for t, p in partitions if t == self.topic}
            self.settled()

    def settled(self):
        """For a client that calls no listener when nothing is added (kafka-python cooperative):
        call once the member is stable, to print a first empty or a shrunk assignment."""
        with self.lock:
            if self.printed != self.current:
                self.printed = set(self.current)
                emit({"assigned": sorted(self.current)})


def outcome(get):
    """A produced message's offset, or the exception that says why it has none."""
    try:
        return get()
    except Exception as error:
        return error


def parse_from(text):
    if text in ("earliest", "latest"):
        return (text, None)
    kind, _, number = text.partition(":")
    if kind in ("offset", "timestamp") and number.lstrip("-").isdigit():
        return (kind, int(number))
    raise argparse.ArgumentTypeError(f"expected earliest, latest, offset:N or timestamp:MS, not {text!r}")


# --- kafka-python ----------------------------------------------------------------------------


class KafkaPythonClient:
    def __init__(self, args, progress):
        import kafka

        self.kafka, self.args, self.progress = kafka, args, progress
        # api_version stays unset: kafka-python 3 detects it from ApiVersions, as in real use.
        self.common = {"bootstrap_servers": args.bootstrap, "client_id": f"{PROGRAM}-kafka-python"}

    def consumer(self, group=None, **configs):
        return self.kafka.KafkaConsumer(group_id=group, enable_auto_commit=False, **self.common, **configs)

    def metadata(self, topic):
        admin = self.kafka.KafkaAdminClient(**self.common)
        try:
            brokers = admin.describe_cluster()["brokers"]
            topics = admin.describe_topics([topic] if topic else None)
        finally:
            admin.close()
        return (
            [[b["broker_id"], b["host"], b["port"]] for b in brokers],
            [(t["name"], t["error_code"], len(t["partitions"])) for t in topics],
        )

    def produce(self, topic, messages, acks, idempotent, compression, linger_ms):
        configs = {
            "acks": acks,
            # kafka-python 3 turns idempotence on by default (InitProducerId): only when asked here.
            "enable_idempotence": idempotent,
            "compression_type": None if compression == "none" else compression,
        }
        if linger_ms is not None:
            configs["linger_ms"] = linger_ms
        producer = self.kafka.KafkaProducer(**self.common, **configs)
        try:
            futures = [
                producer.send(topic, key=m["key"], value=m["value"], headers=m["headers"] or None,
                              timestamp_ms=m["timestamp"])
                for m in messages
            ]
            self.progress.doing = "flushing"
            producer.flush(timeout=self.progress.remaining())
            return [outcome(lambda f=f: f.get(timeout=self.progress.remaining()).offset) for f in futures]
        finally:
            producer.close(timeout=self.progress.remaining())

    def transact(self, topic, messages, transactional_id, end, timeout_ms):
        producer = self.kafka.KafkaProducer(**self.common, transactional_id=transactional_id,
                                            transaction_timeout_ms=timeout_ms)
        producer.init_transactions()
        producer.begin_transaction()
        futures = [producer.send(topic, key=m["key"], value=m["value"], headers=m["headers"] or None, partition=0)
                   for m in messages]
        self.progress.doing = "flushing"
        producer.flush(timeout=self.progress.remaining())
        offsets = [f.get(timeout=self.progress.remaining()).offset for f in futures]
        self.progress.doing = f"ending the transaction ({end})"
        if end == "commit":
            producer.commit_transaction()
        elif end == "abort":
            producer.abort_transaction()
        return offsets

    def _read(self, consumer, count):
        while self.progress.records < count:
            if self.progress.expired():
                raise self.progress.timed_out(count)
            batches = consumer.poll(timeout_ms=min(self.progress.remaining_ms(), 500))
            for records in batches.values():
                for r in records:
                    if self.progress.records < count:
                        emit_record(r.offset, r.key, r.value, r.headers, r.timestamp)
                        self.progress.records += 1
                        self.last = (r.topic, r.partition, r.offset)

    def consume(self, topic, start, count, isolation):
        consumer = self.consumer(**({"isolation_level": isolation} if isolation else {}))
        try:
            tp = self.kafka.TopicPartition(topic, 0)
            consumer.assign([tp])
            kind, number = start
            if kind == "earliest":
                consumer.seek_to_beginning(tp)
            elif kind == "offset":
                consumer.seek(tp, number)
            elif kind == "timestamp":
                found = consumer.offsets_for_times({tp: number}, timeout_ms=self.progress.remaining_ms())[tp]
                if found:
                    consumer.seek(tp, found.offset)
                else:  # no record at or after the timestamp
                    consumer.seek_to_end(tp)
            else:
                consumer.seek_to_end(tp)
                consumer.position(tp, timeout_ms=self.progress.remaining_ms())  # resolves the end offset
                emit({"ready": True})
            self.progress.doing = "fetching"
            self._read(consumer, count)
        finally:
            consumer.close(timeout_ms=self.progress.remaining_ms())

    def _assignors(self, assignor):
        if assignor is None:
            return {}
        from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
        from kafka.coordinator.assignors.range import RangePartitionAssignor
        from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

        chosen = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor,
                  "cooperative-sticky": CooperativeStickyAssignor}[assignor]
        return {"partition_assignment_strategy": [chosen]}

    def _listener(self, membership):
        from kafka.consumer.subscription_state import ConsumerRebalanceListener

        class Listener(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked):
                membership.revoked(revoked)

            def on_partitions_assigned(self, assigned):
                membership.assigned(assigned)

            def on_partitions_lost(self, lost):
                membership.revoked(lost)

        return Listener()

    def group_consume(self, topic, group, count, commit, assignor, reset):
        consumer = self.consumer(group, auto_offset_reset=reset, **self._assignors(assignor))
        try:
            consumer.subscribe([topic])
            self.progress.doing = "joining the group and fetching"
            self._read(consumer, count)
            topic_, partition, offset = self.last
            if commit == "sync":
                self.progress.doing = "committing"
                tp = self.kafka.TopicPartition(topic_, partition)
                consumer.commit({tp: self.kafka.OffsetAndMetadata(offset + 1, "", -1)},
                                timeout_ms=self.progress.remaining_ms())
                emit({"committed": offset + 1})
            self.progress.doing = "leaving the group"
        finally:
            consumer.close(timeout_ms=self.progress.remaining_ms())

    def group_member(self, topic, group, hold, assignor, reset):
        from kafka.structs import MemberState

        consumer = self.consumer(group, auto_offset_reset=reset, **self._assignors(assignor))
        membership = Membership(topic)
        try:
            consumer.subscribe([topic], listener=self._listener(membership))
            end = time.monotonic() + hold
            while (left := end - time.monotonic()) > 0:
                for records in consumer.poll(timeout_ms=max(int(min(left, 0.5) * 1000), 1)).values():
                    for r in records:
                        emit_record(r.offset, r.key, r.value, r.headers, r.timestamp)
                # Cooperative kafka-python calls on_partitions_assigned only for added partitions.
                if consumer.group_metadata().state == MemberState.STABLE:
                    membership.settled()
            self.progress.doing = "leaving the group"
        finally:
            consumer.close(timeout_ms=self.progress.remaining_ms())

    def committed(self, topic, group):
        consumer = self.consumer(group)
        try:
            found = consumer.committed(self.kafka.TopicPartition(topic, 0), metadata=True,
                                       timeout_ms=self.progress.remaining_ms())
            return (None, None) if found is None else (found.offset, found.metadata)
        finally:
            consumer.close(timeout_ms=self.progress.remaining_ms())

    def commit(self, topic, group, offset, metadata):
        consumer = self.consumer(group)
        try:
            tp = self.kafka.TopicPartition(topic, 0)
            consumer.assign([tp])  # not subscribed: kafka-python commits with generation -1
            consumer.commit({tp: self.kafka.OffsetAndMetadata(offset, metadata or "", -1)},
                            timeout_ms=self.progress.remaining_ms())
        finally:
            consumer.close(timeout_ms=self.progress.remaining_ms())


    def create_topic(self, topic, partitions, replication, configs, validate_only):
        admin = self.kafka.KafkaAdminClient(**self.common)
        try:
            result = admin.create_topics(
                {topic: {"num_partitions": partitions, "replication_factor": replication, "configs": configs}},
                timeout_ms=self.progress.remaining_ms(), validate_only=validate_only, raise_errors=False)
        finally:
            admin.close()
        (found,) = result["topics"]
        return found["error_code"], found.get("error_message")

    def create_partitions(self, topic, count):
        admin = self.kafka.KafkaAdminClient(**self.common)
        try:
            result = admin.create_partitions({topic: count}, timeout_ms=self.progress.remaining_ms(), raise_errors=False)
        finally:
            admin.close()
        (found,) = result.results
        return found.error_code, found.error_message

    def delete_topic(self, topic):
        admin = self.kafka.KafkaAdminClient(**self.common)
        try:
            result = admin.delete_topics([topic], timeout_ms=self.progress.remaining_ms(), raise_errors=False)
        finally:
            admin.close()
        (found,) = result["topics"]
        return found["error_code"]


# --- confluent-kafka (librdkafka) ------------------------------------------------------------


class ConfluentKafkaClient:
    def __init__(self, args, progress):
        import confluent_kafka

        self.ck, self.args, self.progress = confluent_kafka, args, progress
        self.common = {
            "bootstrap.servers": args.bootstrap,
            "client.id": f"{PROGRAM}-confluent-kafka",
            # api.version.request is on by default; librdkafka 2.16 warns that setting it is deprecated.
        }
        if args.debug:
            self.common["debug"] = "broker,protocol,msg,cgrp,fetch,topic"

    def consumer(self, group, **configs):
        # librdkafka insists on a group.id even for assign(); without subscribe() it never joins.
        return self.ck.Consumer({
            **self.common, "group.id": group or f"{PROGRAM}-assign", "enable.auto.commit": False,
            "enable.auto.offset.store": False, **configs,
        })

    def _check(self, error, what):
        if error is not None:
            raise Failure(f"{what}: {error}")

    def metadata(self, topic):
        # A Producer asks Metadata like any application; no auto-creation, as the other clients.
        producer = self.ck.Producer({**self.common, "allow.auto.create.topics": False})
        cluster = producer.list_topics(topic, timeout=self.progress.remaining())
        return (
            [[b.id, b.host, b.port] for b in cluster.brokers.values()],
            [(name, t.error.code() if t.error else 0, len(t.partitions)) for name, t in cluster.topics.items()],
        )

    def produce(self, topic, messages, acks, idempotent, compression, linger_ms):
        configs = {
            "acks": acks,
            "enable.idempotence": idempotent,
            "compression.type": compression,
            "message.timeout.ms": self.progress.remaining_ms(),  # fail rather than retry past --timeout
        }
        if linger_ms is not None:
            configs["linger.ms"] = linger_ms
        producer = self.ck.Producer({**self.common, **configs})
        reports = [None] * len(messages)

        def delivered(index):
            def report(error, message):
                reports[index] = (error, message.offset())
            return report

        for index, m in enumerate(messages):
            extra = {"timestamp": m["timestamp"]} if m["timestamp"] is not None else {}
            while True:
                try:
                    producer.produce(topic, value=m["value"], key=m["key"], headers=m["headers"] or None,
                                     on_delivery=delivered(index), **extra)
                    break
                except BufferError:  # the local queue is full: serve delivery reports, then retry
                    producer.poll(0.1)
                    if self.progress.expired():
                        raise self.progress.timed_out() from None
        self.progress.doing = "flushing"
        if producer.flush(self.progress.remaining()) > 0:
            raise self.progress.timed_out()

        return [Failure(f"delivery failed: {error}") if error else offset for error, offset in reports]

    def transact(self, topic, messages, transactional_id, end, timeout_ms):
        producer = self.ck.Producer({**self.common, "transactional.id": transactional_id,
                                     "transaction.timeout.ms": timeout_ms})
        producer.init_transactions(self.progress.remaining())
        producer.begin_transaction()
        offsets = [None] * len(messages)

        def delivered(index):
            def report(error, message):
                offsets[index] = Failure(f"delivery failed: {error}") if error else message.offset()
            return report

        for index, m in enumerate(messages):
            producer.produce(topic, value=m["value"], key=m["key"], headers=m["headers"] or None, partition=0,
                             on_delivery=delivered(index))
        self.progress.doing = "flushing"
        if producer.flush(self.progress.remaining()) > 0:
            raise self.progress.timed_out()
        self.progress.doing = f"ending the transaction ({end})"
        if end == "commit":
            producer.commit_transaction(self.progress.remaining())
        elif end == "abort":
            producer.abort_transaction(self.progress.remaining())
        return offsets

    def _read(self, consumer, count):
        last_error = None
        while self.progress.records < count:
            if self.progress.expired():
                failure = self.progress.timed_out(count)
                raise Failure(f"{failure}; last consumer error: {last_error}") if last_error else failure
            message = consumer.poll(min(self.progress.remaining(), 0.5))
            if message is None:
                continue
            if message.error():
                error = message.error()
                if error.fatal():
                    raise Failure(f"consumer error: {error}")
                print(f"{PROGRAM}: confluent-kafka: consumer error (retrying): {error}", file=sys.stderr)
                last_error = error
                continue
            emit_record(message.offset(), message.key(), message.value(), message.headers(),
                        message.timestamp()[1])
            self.progress.records += 1
            self.last = (message.topic(), message.partition(), message.offset())

    def consume(self, topic, start, count, isolation):
        consumer = self.consumer(None, **({"isolation.level": isolation} if isolation else {}))
        try:
            kind, number = start
            tp = self.ck.TopicPartition(topic, 0)
            if kind == "earliest":
                tp.offset = self.ck.OFFSET_BEGINNING
            elif kind == "offset":
                tp.offset = number
            elif kind == "timestamp":
                tp.offset = number
                [found] = consumer.offsets_for_times([tp], timeout=self.progress.remaining())
                self._check(found.error, "offsets_for_times")
                tp.offset = found.offset if found.offset >= 0 else self.ck.OFFSET_END
            else:
                # Assigning OFFSET_END resolves it in the background with no sign when done: ask for
                # the high watermark (ListOffsets latest) and start there, so "ready" means ready.
                _, tp.offset = consumer.get_watermark_offsets(tp, timeout=self.progress.remaining())
            consumer.assign([tp])
            if kind == "latest":
                emit({"ready": True})
            self.progress.doing = "fetching"
            self._read(consumer, count)
        finally:
            consumer.close()

    def _assignor(self, assignor):
        return {"partition.assignment.strategy": assignor} if assignor else {}

    def group_consume(self, topic, group, count, commit, assignor, reset):
        consumer = self.consumer(group, **{"auto.offset.reset": reset}, **self._assignor(assignor))
        try:
            consumer.subscribe([topic])
            self.progress.doing = "joining the group and fetching"
            self._read(consumer, count)
            topic_, partition, offset = self.last
            if commit == "sync":
                self.progress.doing = "committing"
                [done] = consumer.commit(offsets=[self.ck.TopicPartition(topic_, partition, offset + 1)],
                                         asynchronous=False)
                self._check(done.error, "commit")
                emit({"committed": offset + 1})
            self.progress.doing = "leaving the group"
        finally:
            consumer.close()

    def group_member(self, topic, group, hold, assignor, reset):
        consumer = self.consumer(group, **{"auto.offset.reset": reset}, **self._assignor(assignor))
        membership = Membership(topic)

        def pairs(partitions):
            return [(p.topic, p.partition) for p in partitions]

        try:
            # The client applies the (incremental) assignment itself after each callback.
            consumer.subscribe(
                [topic],
                on_assign=lambda _, partitions: membership.assigned(pairs(partitions)),
                on_revoke=lambda _, partitions: membership.revoked(pairs(partitions)),
                on_lost=lambda _, partitions: membership.revoked(pairs(partitions)),
            )
            end = time.monotonic() + hold
            while (left := end - time.monotonic()) > 0:
                message = consumer.poll(min(left, 0.5))
                if message is None:
                    continue
                if message.error():
                    print(f"{PROGRAM}: confluent-kafka: consumer error: {message.error()}", file=sys.stderr)
                    continue
                emit_record(message.offset(), message.key(), message.value(), message.headers(),
                            message.timestamp()[1])
            self.progress.doing = "leaving the group"
        finally:
            consumer.close()

    def committed(self, topic, group):
        consumer = self.consumer(group)
        try:
            [found] = consumer.committed([self.ck.TopicPartition(topic, 0)], timeout=self.progress.remaining())
            self._check(found.error, "committed")
            return found.offset, found.metadata
        finally:
            consumer.close()

    def commit(self, topic, group, offset, metadata):
        consumer = self.consumer(group)
        try:
            # confluent-kafka sends the metadata with its C string's NUL (strlen + 1 bytes): other
            # clients read "S\u0000" back, confluent-kafka itself reads "S".
            tp = self.ck.TopicPartition(topic, 0, offset, **({"metadata": metadata} if metadata is not None else {}))
            consumer.assign([tp])  # not subscribed: librdkafka commits with generation -1
            [done] = consumer.commit(offsets=[tp], asynchronous=False)
            self._check(done.error, "commit")
        finally:
            consumer.close()


    def create_topic(self, topic, partitions, replication, configs, validate_only):
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient(self.common)
        futures = admin.create_topics(
            [NewTopic(topic, num_partitions=partitions, replication_factor=replication, config=configs)],
            validate_only=validate_only, request_timeout=self.progress.remaining())
        try:
            futures[topic].result(timeout=self.progress.remaining())
        except self.ck.KafkaException as error:
            return error.args[0].code(), error.args[0].str()
        return 0, None

    def create_partitions(self, topic, count):
        from confluent_kafka.admin import AdminClient, NewPartitions

        admin = AdminClient(self.common)
        futures = admin.create_partitions([NewPartitions(topic, count)], request_timeout=self.progress.remaining())
        try:
            futures[topic].result(timeout=self.progress.remaining())
        except self.ck.KafkaException as error:
            return error.args[0].code(), error.args[0].str()
        return 0, None

    def describe_configs(self, topic):
        from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

        admin = AdminClient(self.common)
        resource = ConfigResource(ResourceType.TOPIC, topic)
        futures = admin.describe_configs([resource], request_timeout=self.progress.remaining())
        try:
            entries = futures[resource].result(timeout=self.progress.remaining())
        except self.ck.KafkaException as error:
            return error.args[0].code(), error.args[0].str(), {}, []
        configs = {name: entry.value for name, entry in entries.items()}
        return 0, None, configs, sorted(name for name, entry in entries.items() if entry.is_default)

    def alter_configs(self, topic, configs):
        from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

        admin = AdminClient(self.common)
        resource = ConfigResource(ResourceType.TOPIC, topic, set_config=configs)
        futures = admin.alter_configs([resource], request_timeout=self.progress.remaining())
        try:
            futures[resource].result(timeout=self.progress.remaining())
        except self.ck.KafkaException as error:
            return error.args[0].code(), error.args[0].str()
        return 0, None

    def delete_topic(self, topic):
        from confluent_kafka.admin import AdminClient

        admin = AdminClient(self.common)  # kept until the answer: a destroyed client fails its futures
        futures = admin.delete_topics([topic], request_timeout=self.progress.remaining())
        try:
            futures[topic].result(timeout=self.progress.remaining())
        except self.ck.KafkaException as error:
            return error.args[0].code()
        return 0


# --- aiokafka --------------------------------------------------------------------------------


class AiokafkaClient:
    """The same actions as coroutines; main() runs them in asyncio.run under --timeout."""

    def __init__(self, args, progress):
        import aiokafka

        self.aiokafka, self.args, self.progress = aiokafka, args, progress
        self.common = {"bootstrap_servers": args.bootstrap, "client_id": f"{PROGRAM}-aiokafka"}

    async def consumer(self, group=None, **configs):
        consumer = self.aiokafka.AIOKafkaConsumer(group_id=group, enable_auto_commit=False,
                                                  **self.common, **configs)
        try:
            await consumer.start()
        except BaseException:
            await consumer.stop()
            raise
        return consumer

    async def metadata(self, topic):
        from aiokafka.admin import AIOKafkaAdminClient
        from aiokafka.protocol.metadata import MetadataRequest

        admin = AIOKafkaAdminClient(**self.common)
        await admin.start()
        try:
            # describe_topics() lets the broker auto-create the topic; the other clients do not.
            request = MetadataRequest([topic] if topic else None, allow_auto_topic_creation=False)
            response = (await admin._send_request(request)).to_object()
        finally:
            await admin.close()
        return (
            [[b["node_id"], b["host"], b["port"]] for b in response["brokers"]],
            [(t["topic"], t["error_code"], len(t["partitions"])) for t in response["topics"]],
        )

    async def produce(self, topic, messages, acks, idempotent, compression, linger_ms):
        configs = {"acks": acks, "enable_idempotence": idempotent,
                   "compression_type": None if compression == "none" else compression,
                   "request_timeout_ms": self.progress.remaining_ms()}
        if linger_ms is not None:
            configs["linger_ms"] = linger_ms
        producer = self.aiokafka.AIOKafkaProducer(**self.common, **configs)
        await producer.start()
        try:
            futures = [
                await producer.send(topic, key=m["key"], value=m["value"], headers=m["headers"] or None,
                                    timestamp_ms=m["timestamp"])
                for m in messages
            ]
            self.progress.doing = "flushing"
            await producer.flush()
            results = await asyncio.gather(*futures, return_exceptions=True)
            # acks=0: the batch resolves with no RecordMetadata at all.
            return [r if isinstance(r, BaseException) else r and r.offset for r in results]
        finally:
            await producer.stop()

    async def transact(self, topic, messages, transactional_id, end, timeout_ms):
        producer = self.aiokafka.AIOKafkaProducer(**self.common, transactional_id=transactional_id,
                                                  transaction_timeout_ms=timeout_ms)
        await producer.start()
        try:
            await producer.begin_transaction()
            futures = [await producer.send(topic, key=m["key"], value=m["value"], headers=m["headers"] or None,
                                           partition=0)
                       for m in messages]
            self.progress.doing = "flushing"
            offsets = [(await f).offset for f in futures]
        except BaseException:
            await producer.stop()
            raise
        if end == "none":
            return offsets  # the caller exits with the transaction open: no EndTxn, no stop()
        try:
            self.progress.doing = f"ending the transaction ({end})"
            if end == "commit":
                await producer.commit_transaction()
            else:
                await producer.abort_transaction()
            return offsets
        finally:
            await producer.stop()

    async def _read(self, consumer, count, partitions=()):
        while self.progress.records < count:
            batches = await consumer.getmany(*partitions, timeout_ms=500)
            for records in batches.values():
                for r in records:
                    if self.progress.records < count:
                        emit_record(r.offset, r.key, r.value, r.headers, r.timestamp)
                        self.progress.records += 1
                        self.last = (r.topic, r.partition, r.offset)

    async def consume(self, topic, start, count, isolation):
        consumer = await self.consumer(**({"isolation_level": isolation} if isolation else {}))
        try:
            tp = self.aiokafka.TopicPartition(topic, 0)
            consumer.assign([tp])
            kind, number = start
            if kind == "earliest":
                await consumer.seek_to_beginning(tp)
            elif kind == "offset":
                consumer.seek(tp, number)
            elif kind == "timestamp":
                found = (await consumer.offsets_for_times({tp: number}))[tp]
                if found:
                    consumer.seek(tp, found.offset)
                else:  # no record at or after the timestamp
                    await consumer.seek_to_end(tp)
            else:
                await consumer.seek_to_end(tp)
                await consumer.position(tp)  # resolves the end offset
                emit({"ready": True})
            self.progress.doing = "fetching"
            await self._read(consumer, count, [tp])
        finally:
            await consumer.stop()

    def _assignors(self, assignor):
        if assignor is None:
            return {}
        from aiokafka.coordinator.assignors.range import RangePartitionAssignor
        from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

        if assignor == "cooperative-sticky":
            raise Failure("aiokafka has no cooperative-sticky assignor (no incremental rebalancing)")
        chosen = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor}[assignor]
        return {"partition_assignment_strategy": (chosen,)}

    async def group_consume(self, topic, group, count, commit, assignor, reset):
        consumer = await self.consumer(group, auto_offset_reset=reset, **self._assignors(assignor))
        try:
            consumer.subscribe([topic])
            self.progress.doing = "joining the group and fetching"
            await self._read(consumer, count)
            topic_, partition, offset = self.last
            if commit == "sync":
                self.progress.doing = "committing"
                await consumer.commit({self.aiokafka.TopicPartition(topic_, partition): offset + 1})
                emit({"committed": offset + 1})
            self.progress.doing = "leaving the group"
        finally:
            await consumer.stop()

    async def group_member(self, topic, group, hold, assignor, reset):
        from aiokafka.abc import ConsumerRebalanceListener

        membership = Membership(topic)

        class Listener(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked):
                membership.revoked(revoked)

            def on_partitions_assigned(self, assigned):
                membership.assigned(assigned)

        consumer = await self.consumer(group, auto_offset_reset=reset, **self._assignors(assignor))
        try:
            consumer.subscribe([topic], listener=Listener())
            end = time.monotonic() + hold
            while (left := end - time.monotonic()) > 0:
                batches = await consumer.getmany(timeout_ms=max(int(min(left, 0.5) * 1000), 1))
                for records in batches.values():
                    for r in records:
                        emit_record(r.offset, r.key, r.value, r.headers, r.timestamp)
            self.progress.doing = "leaving the group"
        finally:
            await consumer.stop()

    async def committed(self, topic, group):
        consumer = await self.consumer(group)
        try:
            tp = self.aiokafka.TopicPartition(topic, 0)
            # committed() returns the offset alone; the metadata comes with the same OffsetFetch
            # that committed() sends through the coordinator.
            found = (await consumer._coordinator.fetch_committed_offsets([tp])).get(tp)
            return (None, None) if found is None else (found.offset, found.metadata)
        finally:
            await consumer.stop()

    async def commit(self, topic, group, offset, metadata):
        consumer = await self.consumer(group)
        try:
            tp = self.aiokafka.TopicPartition(topic, 0)
            consumer.assign([tp])  # not subscribed: aiokafka commits with generation -1
            await consumer.commit({tp: (offset, metadata or "")})
        finally:
            await consumer.stop()

    async def create_topic(self, topic, partitions, replication, configs, validate_only):
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic

        admin = AIOKafkaAdminClient(**self.common)
        await admin.start()
        try:
            response = await admin.create_topics(
                [NewTopic(topic, partitions, replication, topic_configs=configs)],
                timeout_ms=self.progress.remaining_ms(), validate_only=validate_only)
        finally:
            await admin.close()
        (found,) = response.topic_errors
        return found[1], (found[2] if len(found) > 2 else None)

    async def create_partitions(self, topic, count):
        from aiokafka.admin import AIOKafkaAdminClient, NewPartitions
        from aiokafka.errors import KafkaError

        admin = AIOKafkaAdminClient(**self.common)
        await admin.start()
        try:
            await admin.create_partitions({topic: NewPartitions(count)}, timeout_ms=self.progress.remaining_ms())
        except KafkaError as error:  # aiokafka raises the error of the first topic that has one
            return error.errno, str(error)
        finally:
            await admin.close()
        return 0, None

    async def delete_topic(self, topic):
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(**self.common)
        await admin.start()
        try:
            response = await admin.delete_topics([topic], timeout_ms=self.progress.remaining_ms())
        finally:
            await admin.close()
        (found,) = response.topic_error_codes
        return found[1]


# --- the actions, common to every client -----------------------------------------------------


def run_action(client, call, args, progress):
    """call(method, *arguments) runs one of the client's methods: directly, or for aiokafka
    in asyncio.run under the deadline."""
    action = args.action
    if action == "metadata":
        progress.doing = "asking Metadata"
        brokers, topics = call(client.metadata, args.topic)
        for name, error_code, _ in topics:
            if error_code:
                known = {3: " (UNKNOWN_TOPIC_OR_PARTITION)", 17: " (INVALID_TOPIC_EXCEPTION)"}.get(error_code, "")
                raise Failure(f"topic {name}: Metadata error code {error_code}{known}")
        emit({"brokers": sorted(brokers), "topics": {name: count for name, _, count in topics}})
    elif action == "produce":
        messages = read_messages()
        progress.doing = f"producing {len(messages)} messages"
        acks = {"0": 0, "1": 1, "all": "all"}[args.acks]
        try:
            results = call(client.produce, args.topic, messages, acks, args.idempotent, args.compression,
                           args.linger_ms)
        except Failure:
            raise
        except Exception as error:
            raise Failure(describe_produce_error(error, args)) from error
        for index, result in enumerate(results):  # in input order, up to the first failure
            if isinstance(result, Failure):
                raise Failure(f"message {index}: {result} ({produce_settings(args)})")
            if isinstance(result, BaseException):
                raise Failure(f"message {index}: {describe_produce_error(result, args)}")
            # acks=0 has no response to learn an offset from (kafka-python 3 makes up 0, 1, ...).
            emit({"offset": None if args.acks == "0" else offset_or_null(result)})
    elif action == "consume":
        kind, number = args.start
        progress.doing = f"positioning at {kind}" + (f":{number}" if number is not None else "")
        call(client.consume, args.topic, args.start, args.count, args.isolation)
    elif action == "transact":
        messages = read_messages()
        progress.doing = f"producing {len(messages)} messages in a transaction"
        offsets = call(client.transact, args.topic, messages, args.transactional_id, args.end,
                       args.transaction_timeout_ms)
        for index, offset in enumerate(offsets):
            if isinstance(offset, Failure):
                raise Failure(f"message {index}: {offset}")
            emit({"offset": offset})
        if args.end == "none":
            sys.stdout.flush()
            os._exit(0)  # the transaction stays open: no EndTxn, no close
        emit({"ended": args.end})
    elif action == "group-consume":
        progress.doing = "joining the group"
        call(client.group_consume, args.topic, args.group, args.count, args.commit, args.assignor, args.start)
    elif action == "group-member":
        progress.doing = "holding the membership"
        call(client.group_member, args.topic, args.group, args.hold, args.assignor, args.start)
    elif action == "committed":
        progress.doing = "asking OffsetFetch"
        offset, metadata = call(client.committed, args.topic, args.group)
        emit({"offset": offset_or_null(offset), "metadata": metadata})
    elif action == "commit":
        progress.doing = "committing (OffsetCommit)"
        call(client.commit, args.topic, args.group, args.offset, args.metadata)
        emit({"committed": args.offset})
    elif action == "create-topic":
        progress.doing = "creating the topic (CreateTopics)"
        configs = dict(pair.split("=", 1) for pair in args.config)
        code, message = call(client.create_topic, args.topic, args.partitions, args.replication, configs,
                             args.validate_only)
        emit({"topic": args.topic, "error_code": code, "message": message})
    elif action == "create-partitions":
        progress.doing = "adding partitions (CreatePartitions)"
        code, message = call(client.create_partitions, args.topic, args.count)
        emit({"topic": args.topic, "error_code": code, "message": message})
    elif action in ("describe-configs", "alter-configs"):
        if not hasattr(client, "describe_configs"):
            raise Failure(f"{action} is driven with confluent-kafka only")
        if action == "describe-configs":
            progress.doing = "describing the topic's configs (DescribeConfigs)"
            code, message, configs, defaults = call(client.describe_configs, args.topic)
            emit({"error_code": code, "message": message, "configs": configs, "defaults": defaults})
        else:
            progress.doing = "altering the topic's configs (AlterConfigs)"
            code, message = call(client.alter_configs, args.topic, dict(pair.split("=", 1) for pair in args.config))
            emit({"error_code": code, "message": message})
    elif action == "delete-topic":
        progress.doing = "deleting the topic (DeleteTopics)"
        emit({"topic": args.topic, "error_code": call(client.delete_topic, args.topic)})


def produce_settings(args):
    return f"acks={args.acks}, compression={args.compression}, idempotent={args.idempotent}"


def describe_error(error):
    """The exception's type and text, once (kafka-python's errors start with their type)."""
    text, name = str(error), type(error).__name__
    return text if text.startswith(name) else f"{name}: {text}"


def describe_produce_error(error, args):
    text = describe_error(error)
    if isinstance(error, RuntimeError) and "not found" in str(error):
        # kafka-python needs python-snappy, lz4 or zstandard, aiokafka cramjam (pinned in requirements.txt).
        text += f" (the Python package for {args.compression} is not installed: see Tests/KafkaClients/requirements.txt)"
    return f"{text} ({produce_settings(args)})"


# --- command line ----------------------------------------------------------------------------


class Parser(argparse.ArgumentParser):
    def error(self, message):
        print(f"{PROGRAM}: usage error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def parse_args(argv):
    common = Parser(add_help=False)
    common.add_argument("--bootstrap", required=True, metavar="HOST:PORT")
    common.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                        help="fail after this long rather than hang (default 30)")
    common.add_argument("--debug", action="store_true", help="the client's own debug logs on stderr")

    parser = Parser(prog=PROGRAM, description=__doc__.split("\n")[0],
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("client", choices=CLIENTS)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=Parser)

    def action(name, topic_required=True):
        sub = actions.add_parser(name, parents=[common])
        sub.add_argument("--topic", required=topic_required)
        return sub

    action("metadata", topic_required=False)

    produce = action("produce")
    produce.add_argument("--acks", choices=("0", "1", "all"))
    produce.add_argument("--idempotent", action="store_true", help="enable idempotence (implies --acks all)")
    produce.add_argument("--compression", choices=COMPRESSIONS, default="none")
    produce.add_argument("--linger-ms", type=int)

    consume = action("consume")
    consume.add_argument("--count", type=int, required=True)
    consume.add_argument("--from", dest="start", default="earliest", type=parse_from,
                         help="earliest (default), latest, offset:N or timestamp:MS")
    consume.add_argument("--isolation", choices=("read_committed", "read_uncommitted"),
                         help="isolation.level (default: the client's own)")

    transact = action("transact")
    transact.add_argument("--transactional-id", required=True)
    transact.add_argument("--end", choices=("commit", "abort", "none"), default="commit",
                          help="how the transaction ends; none: the process exits with it open")
    transact.add_argument("--transaction-timeout-ms", type=int, default=60000)

    for name in ("group-consume", "group-member"):
        group = action(name)
        group.add_argument("--group", required=True)
        group.add_argument("--assignor", choices=ASSIGNORS, help="default: the client's own")
        group.add_argument("--from", dest="start", choices=("earliest", "latest"), default="earliest",
                           help="auto.offset.reset (default earliest)")
        if name == "group-consume":
            group.add_argument("--count", type=int, required=True)
            group.add_argument("--commit", choices=("sync", "none"), default="sync")
        else:
            group.add_argument("--hold", type=float, required=True, metavar="SECONDS")

    action("committed").add_argument("--group", required=True)

    commit = action("commit")
    commit.add_argument("--group", required=True)
    commit.add_argument("--offset", type=int, required=True)
    commit.add_argument("--metadata")

    create = action("create-topic")
    create.add_argument("--partitions", type=int, default=1)
    create.add_argument("--replication", type=int, default=1)
    create.add_argument("--config", action="append", default=[], metavar="KEY=VALUE")
    create.add_argument("--validate-only", action="store_true")
    action("create-partitions").add_argument("--count", type=int, required=True)
    action("delete-topic")
    action("describe-configs")
    action("alter-configs").add_argument("--config", action="append", default=[], metavar="KEY=VALUE")

    args = parser.parse_args(argv)
    if args.action == "produce":
        if args.idempotent and args.acks not in (None, "all"):
            parser.error("--idempotent needs --acks all")
        args.acks = args.acks or "all"
    if getattr(args, "count", 1) < (1 if args.action == "group-consume" else 0):
        parser.error("--count must be at least 1 for group-consume, 0 otherwise")
    return args


def main(argv):
    args = parse_args(argv)
    if args.debug:
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    progress = Progress(args.timeout)
    hold = getattr(args, "hold", 0.0)
    progress.deadline += hold

    def fail(message, status=1):
        message = " ".join(str(message).split())  # one line
        print(f"{PROGRAM} {args.client} {args.action}: error: {message}", file=sys.stderr, flush=True)
        os._exit(status)  # also ends the clients' own threads, which may be stuck

    # The backstop: a client call that blocks past the deadline (a C call in librdkafka, a close
    # that waits for a dead broker) still ends the process, a little after the in-loop checks.
    count = getattr(args, "count", None)
    watchdog = threading.Timer(args.timeout + hold + 1.0, lambda: fail(progress.timed_out(count)))
    watchdog.daemon = True
    watchdog.start()

    client_class = {"kafka-python": KafkaPythonClient, "confluent-kafka": ConfluentKafkaClient,
                    "aiokafka": AiokafkaClient}[args.client]
    try:
        client = client_class(args, progress)

        async def bounded(method, *arguments):
            try:
                return await asyncio.wait_for(method(*arguments), progress.remaining())
            except asyncio.TimeoutError:
                raise progress.timed_out(getattr(args, "count", None)) from None

        def call(method, *arguments):
            if asyncio.iscoroutinefunction(method):  # aiokafka's
                return asyncio.run(bounded(method, *arguments))
            return method(*arguments)

        run_action(client, call, args, progress)
    except Failure as error:
        fail(error)
    except Exception as error:  # the client's own exception: its type names what went wrong
        if args.debug:
            import traceback
            traceback.print_exc()
        fail(describe_error(error))
    sys.stdout.flush()
    os._exit(0)  # do not wait for the clients' background threads


if __name__ == "__main__":
    main(sys.argv[1:])
