# RabbitMQ on 127.0.0.1:5672 (Debian's rabbitmq-server, installed when
# missing) with a fresh virtual host `waitlist-test` for every run, so test
# queues never pile up. Tests reach it through AMQP_URL.
SERVICES+=(rabbitmq)
RABBITMQ_VHOST=waitlist-test
export AMQP_URL=${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/$RABBITMQ_VHOST}

rabbitmq_up() {
  if ! command -v rabbitmq-server >/dev/null 2>&1; then
    log "installing rabbitmq-server"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
  fi
  if ! rabbitmqctl -q status >/dev/null 2>&1; then
    log "starting rabbitmq-server"
    rabbitmq-server -detached
  fi
  rabbitmqctl -q await_startup --timeout 120 >/dev/null
  wait_port 5672 60 || { log "rabbitmq: port 5672 not open"; return 1; }
  rabbitmqctl -q delete_vhost "$RABBITMQ_VHOST" >/dev/null 2>&1 || true
  rabbitmqctl -q add_vhost "$RABBITMQ_VHOST" >/dev/null
  rabbitmqctl -q set_permissions -p "$RABBITMQ_VHOST" guest '.*' '.*' '.*' >/dev/null
  log "rabbitmq: up, vhost $RABBITMQ_VHOST reset"
}

rabbitmq_down() {
  rabbitmqctl -q delete_vhost "$RABBITMQ_VHOST" >/dev/null 2>&1 || true
}

rabbitmq_status() {
  if rabbitmqctl -q status >/dev/null 2>&1; then log "rabbitmq: running"; else log "rabbitmq: stopped"; fi
}
