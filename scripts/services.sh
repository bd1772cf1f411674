#!/usr/bin/env bash
# Brings the services the tests need up (or down), installing what is missing.
#
#   scripts/services.sh up       start every service (idempotent)
#   scripts/services.sh down     stop what these scripts started
#   scripts/services.sh status   one line per service
#
# Each service is one file in scripts/services.d/ that defines
# `<name>_up`, `<name>_down` and `<name>_status` and appends its name to
# SERVICES. Files run in name order (00-python.sh first: the virtualenv
# other services and tests use).
set -euo pipefail
cd "$(dirname "$0")/.."

ROOT=$(pwd)
VENV="$ROOT/.venv"
RUN_DIR="$ROOT/target/services"
mkdir -p "$RUN_DIR"
export ROOT VENV RUN_DIR

SERVICES=()
log() { echo "services: $*"; }

# Waits until something listens on 127.0.0.1:$1, for at most $2 seconds.
wait_port() {
  local port=$1 limit=${2:-60} i
  for ((i = 0; i <= limit * 10; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

for f in scripts/services.d/*.sh; do
  [ -e "$f" ] || continue
  # shellcheck source=/dev/null
  source "$f"
done

cmd=${1:-up}
case "$cmd" in
  up | down | status)
    if [ ${#SERVICES[@]} -eq 0 ]; then
      log "no service needed"
    fi
    for s in "${SERVICES[@]}"; do
      "${s}_${cmd}"
    done
    ;;
  *)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
esac
