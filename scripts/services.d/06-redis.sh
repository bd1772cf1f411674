# Redis on 127.0.0.1:6379 (Debian's redis-server, installed when missing),
# nothing persisted. The Redis store tests (waitlist-redis) reach it through
# REDIS_URL and use a key prefix of their own; the restart test stops and
# starts it with the same command as below.
SERVICES+=(redis)
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
REDIS_STARTED="$RUN_DIR/redis.started"

redis_start() {
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
}

redis_up() {
  if ! command -v redis-server >/dev/null 2>&1; then
    log "installing redis-server"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null
  fi
  if redis-cli ping >/dev/null 2>&1; then
    log "redis: already running on 127.0.0.1:6379"
    return 0
  fi
  log "starting redis-server"
  redis_start
  touch "$REDIS_STARTED"
  local i
  for ((i = 0; i < 300; i++)); do
    if [ "$(redis-cli ping 2>/dev/null)" = PONG ]; then
      log "redis: up on 127.0.0.1:6379"
      return 0
    fi
    sleep 0.1
  done
  log "redis: no answer on 127.0.0.1:6379 (see /var/log/redis/ci.log)"
  return 1
}

redis_down() {
  # Test keys left by failed tests go; the server stops only if we started it.
  redis-cli --scan --pattern 'waitlist-test:*' 2>/dev/null | xargs -r redis-cli del >/dev/null 2>&1 || true
  if [ -f "$REDIS_STARTED" ]; then
    redis-cli shutdown nosave >/dev/null 2>&1 || true
    rm -f "$REDIS_STARTED"
  fi
}

redis_status() {
  if [ "$(redis-cli ping 2>/dev/null)" = PONG ]; then log "redis: running"; else log "redis: stopped"; fi
}
