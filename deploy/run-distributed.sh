#!/usr/bin/env bash
# Runs Leadrelay's distributed mode on this machine, without Docker: the five services
# (intake, scoring, router, notifier, relay) as background processes, one log file each.
# Ctrl-C (or SIGTERM) stops them all; if one dies, the others are stopped too.
#
#   eval "$(bash deploy/up.sh)"                 # Kafka + PostgreSQL, and their LEADRELAY_* exports
#   export LEADRELAY_IDENTITY_SALT=...          # a long random secret, the same for every service
#   export LEADRELAY_LINK_SECRET=...            # another one: it signs the chat messages' action links
#   leadrelay policy apply shared/example_policy.yaml   # once (after migrate; see docs/operations.md)
#   bash deploy/run-distributed.sh [LOG_DIR]    # default LOG_DIR: ./leadrelay-data/logs
#
# Before starting the services it applies the migrations (`leadrelay migrate`) and creates the
# topics (`leadrelay topics ensure`); both are idempotent. Env: LEADRELAY_* (docs/operations.md),
# LEADRELAY_BIN (the command, default `leadrelay`), STOP_TIMEOUT (seconds, default 20).
set -euo pipefail

LOG_DIR="${1:-${LEADRELAY_LOG_DIR:-leadrelay-data/logs}}"
STOP_TIMEOUT="${STOP_TIMEOUT:-20}"
SERVICES=(intake scoring router notifier relay)

log() { echo "run-distributed: $*" >&2; }
# kill -0 also succeeds on a zombie (a child that exited and was not reaped yet).
alive() { [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" =~ ^[RSDTtIW]$ ]]; }
die() { log "$*"; exit 1; }

if [[ -n "${LEADRELAY_BIN:-}" ]]; then
  read -r -a BIN <<<"$LEADRELAY_BIN"
elif command -v leadrelay >/dev/null; then
  BIN=(leadrelay)
else
  die "the 'leadrelay' command is not on PATH (pip install -e . , or set LEADRELAY_BIN)"
fi

export LEADRELAY_MODE=distributed
[[ -n "${LEADRELAY_DATABASE_URL:-}" ]] ||
  die "LEADRELAY_DATABASE_URL is not set (eval \"\$(bash deploy/up.sh)\" exports it)"
[[ -n "${LEADRELAY_KAFKA_BOOTSTRAP:-}" ]] ||
  die "LEADRELAY_KAFKA_BOOTSTRAP is not set (eval \"\$(bash deploy/up.sh)\" exports it)"
[[ -n "${LEADRELAY_IDENTITY_SALT:-}" && "$LEADRELAY_IDENTITY_SALT" != leadrelay-demo-salt ]] ||
  die "set LEADRELAY_IDENTITY_SALT to a secret, e.g. export LEADRELAY_IDENTITY_SALT=\"\$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')\""
LINK_SECRET="${LEADRELAY_LINK_SECRET:-}"
(( ${#LINK_SECRET} >= 16 )) ||
  die "set LEADRELAY_LINK_SECRET to a secret (16+ characters), e.g. export LEADRELAY_LINK_SECRET=\"\$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')\""

mkdir -p "$LOG_DIR"
LOG_DIR="$(cd "$LOG_DIR" && pwd)"
HOST="${LEADRELAY_HOST:-127.0.0.1}"
PORT="${LEADRELAY_PORT:-8080}"
(exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null && die "$HOST:$PORT is in use (another intake or 'leadrelay run'?); set LEADRELAY_PORT"

log "migrating ${LEADRELAY_DATABASE_URL%%://*}://…@${LEADRELAY_DATABASE_URL##*@}"
"${BIN[@]}" migrate 2>>"$LOG_DIR/setup.log" || die "leadrelay migrate failed (see $LOG_DIR/setup.log)"
log "ensuring topics on $LEADRELAY_KAFKA_BOOTSTRAP${LEADRELAY_TOPIC_PREFIX:+ (prefix $LEADRELAY_TOPIC_PREFIX)}"
"${BIN[@]}" topics ensure 2>>"$LOG_DIR/setup.log" || die "leadrelay topics ensure failed (see $LOG_DIR/setup.log)"

# Without a policy scoring dead-letters every lead, so say so now rather than at the first lead.
# (Exit 3 = no policy; any other failure, e.g. another Python without leadrelay, says nothing.)
policy_rc=0
"${PYTHON:-python3}" - <<'EOF' 2>/dev/null || policy_rc=$?
import asyncio, sys
from leadrelay.shared.shell.bootstrap import build_runtime
from leadrelay.shared.settings import Settings

async def has_policy() -> bool:
    runtime = build_runtime(Settings())
    try:
        async with runtime.store.read() as uow:
            return await uow.current_policy() is not None
    finally:
        await runtime.store.dispose()

sys.exit(0 if asyncio.run(has_policy()) else 3)
EOF
(( policy_rc != 3 )) ||
  log "WARNING: no routing policy yet; leads are dead-lettered until you run: leadrelay policy apply FILE"

declare -A PIDS=()
stopping=0

stop_all() {
  (( stopping )) && return 0
  stopping=1
  local name pid i
  for name in "${!PIDS[@]}"; do kill -TERM "${PIDS[$name]}" 2>/dev/null || true; done
  for ((i = 0; i < STOP_TIMEOUT * 4; i++)); do
    local any=0
    for pid in "${PIDS[@]}"; do alive "$pid" && any=1; done
    (( any )) || break
    sleep 0.25
  done
  for name in "${!PIDS[@]}"; do
    if alive "${PIDS[$name]}"; then
      log "$name did not stop within ${STOP_TIMEOUT}s; killing it"
      kill -KILL "${PIDS[$name]}" 2>/dev/null || true
    fi
  done
  wait 2>/dev/null || true
  log "stopped; logs in $LOG_DIR"
}

on_signal() { log "stopping…"; stop_all; exit 0; }
trap on_signal INT TERM
trap stop_all EXIT

metrics_port=$((PORT + 1))
for name in "${SERVICES[@]}"; do
  # Background jobs of a script ignore SIGINT; the services stop on the SIGTERM sent by stop_all.
  # Each non-intake service serves /metrics on its own port: 8081, 8082, … after intake's.
  if [[ "$name" == intake ]]; then port_env=(); else port_env=(LEADRELAY_METRICS_PORT=$metrics_port); metrics_port=$((metrics_port + 1)); fi
  env "${port_env[@]}" "${BIN[@]}" serve "$name" >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
  PIDS[$name]=$!
  log "started $name (pid $!) → $LOG_DIR/$name.log"
done

# Ready when intake answers /readyz (it can reach the database).
ready=0
for ((i = 0; i < 120; i++)); do
  if "${PYTHON:-python3}" - "http://$HOST:$PORT/readyz" <<'EOF' 2>/dev/null; then ready=1; break; fi
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=1)
EOF
  for name in "${!PIDS[@]}"; do
    alive "${PIDS[$name]}" || { tail -n 20 "$LOG_DIR/$name.log" >&2; die "$name exited during startup"; }
  done
  sleep 0.25
done
if (( ready )); then
  log "ready: intake on http://$HOST:$PORT (POST /v1/leads, GET /v1/leads/{id}, /metrics). Ctrl-C stops everything."
else
  log "WARNING: intake does not answer http://$HOST:$PORT/readyz yet (see $LOG_DIR/intake.log); still running."
fi

# Wait for a signal, or for one service to exit (then stop the rest: half a pipeline only queues
# work). Polled, because `wait -n` misses a child that bash already reaped and reported.
while true; do
  for name in "${!PIDS[@]}"; do
    if ! alive "${PIDS[$name]}"; then
      log "$name exited; last lines of $LOG_DIR/$name.log:"
      tail -n 20 "$LOG_DIR/$name.log" >&2 || true
      stop_all
      exit 1
    fi
  done
  sleep 1 &
  wait $! || true  # returns at once when a trapped signal arrives
done
