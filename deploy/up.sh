#!/usr/bin/env bash
# Start local infrastructure (PostgreSQL first, then Kafka) and print the env
# exports for the app and the real-broker/real-DB tests:
#   eval "$(deploy/up.sh)"
# Progress goes to stderr, so only the export lines reach eval.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

db_url="$("$HERE/postgres/postgres.sh" start)"
bootstrap="$("$HERE/kafka/kafka.sh" start)"

echo "export LEADRELAY_KAFKA_BOOTSTRAP=$bootstrap"
echo "export LEADRELAY_DATABASE_URL=$db_url"
# The names the pytest 'kafka' / 'postgres' markers look for (pyproject.toml).
echo "export LEADRELAY_TEST_KAFKA=$bootstrap"
echo "export LEADRELAY_TEST_DATABASE_URL=$db_url"
