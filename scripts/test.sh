#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs the system packages the
# project needs (when missing) and the Python Kafka clients' venv, then builds and runs
# every test target.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/lib/apt.sh
# postgresql-15: the PostgresCDC tests start a throwaway Postgres 15 of their own.
# kcat, python3-venv: the Kafka compatibility tests drive `logd serve` with real clients;
# jq: a test pipes `logd read --value-format json` of an ingested log into it.
ensure_apt_packages "${LOGD_BUILD_PACKAGES[@]}" "${LOGD_TEST_PACKAGES[@]}"

source scripts/lib/kafka-clients.sh
# kafka-python, confluent-kafka, aiokafka (Tests/KafkaClients/requirements.txt) in a venv;
# exports LOGD_KAFKA_PYTHON, the venv's python, for the tests to run kafka_clients.py with.
ensure_kafka_clients

swift build --build-tests
swift test --skip-build "$@"
