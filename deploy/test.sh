#!/usr/bin/env bash
# The whole test suite. Starts the real PostgreSQL and Apache Kafka that the distributed-mode
# tests need (with the project's own scripts), then runs pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(bash deploy/up.sh)"
exec python3 -m pytest --durations=15 "$@"
