#!/usr/bin/env bash
# Brings the brokers the tests need up (or down), installing what is missing.
#
#   scripts/services.sh up     start every broker the enabled transports need
#   scripts/services.sh down   stop what this script started
#   scripts/services.sh status
#
# The memory transport needs no broker. Kafka (tansu), SQS (moto) and
# RabbitMQ are added here together with their transports (issues #5, #6, #7).
set -euo pipefail
cd "$(dirname "$0")/.."

# Brokers this checkout has transports for: one line per broker, added with
# the transport crate that uses it.
BROKERS=()

cmd=${1:-up}
case "$cmd" in
  up)
    if [ ${#BROKERS[@]} -eq 0 ]; then
      echo "services: no broker needed (transports in this checkout: memory)"
    fi
    ;;
  down)
    echo "services: nothing to stop"
    ;;
  status)
    echo "services: brokers needed: ${BROKERS[*]:-none}"
    ;;
  *)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
esac
