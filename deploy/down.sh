#!/usr/bin/env bash
# Stop local infrastructure started by up.sh (Kafka first: its clients may
# still be writing, PostgreSQL has nothing depending on Kafka).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$HERE/kafka/kafka.sh" stop
"$HERE/postgres/postgres.sh" stop
