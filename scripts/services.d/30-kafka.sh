# A Kafka-protocol broker on 127.0.0.1:9092: tansu 0.6.0 from crates.io
# (memory storage), built once with `cargo install` (about 15 minutes on two
# cores) and reused afterwards. It does not create topics on first use; the
# transport creates the topics it needs through the admin API.
SERVICES+=(kafka)
TANSU_VERSION=0.6.0
export KAFKA_BROKERS=${KAFKA_BROKERS:-127.0.0.1:9092}

tansu_bin() {
  command -v tansu 2>/dev/null || { [ -x "$HOME/.cargo/bin/tansu" ] && echo "$HOME/.cargo/bin/tansu"; }
}

kafka_up() {
  if [ -z "$(tansu_bin)" ]; then
    log "installing tansu $TANSU_VERSION (cargo install; this takes a while)"
    cargo install --locked tansu --version "$TANSU_VERSION" --features dynostore --quiet \
      || cargo install tansu --version "$TANSU_VERSION" --features dynostore --quiet
  fi
  if wait_port 9092 0; then
    log "kafka: already listening on 9092"
    return 0
  fi
  log "starting tansu on 127.0.0.1:9092"
  nohup "$(tansu_bin)" broker \
    --listener-url tcp://127.0.0.1:9092 \
    --advertised-listener-url tcp://127.0.0.1:9092 \
    --storage-engine memory://tansu/ > "$RUN_DIR/tansu.log" 2>&1 &
  echo $! > "$RUN_DIR/tansu.pid"
  wait_port 9092 60 || { log "kafka: tansu did not open 9092 (see $RUN_DIR/tansu.log)"; return 1; }
  log "kafka: up"
}

kafka_down() {
  if [ -f "$RUN_DIR/tansu.pid" ]; then
    kill "$(cat "$RUN_DIR/tansu.pid")" 2>/dev/null || true
    rm -f "$RUN_DIR/tansu.pid"
  fi
}

kafka_status() {
  if wait_port 9092 0; then log "kafka: listening on 9092"; else log "kafka: stopped"; fi
}
