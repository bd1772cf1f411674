# A local SQS and SNS: moto's server (PyPI `moto[server]`, in .venv) on
# 127.0.0.1:$SQS_TEST_PORT (default 4566), state in memory. The SQS tests
# reach it through AWS_ENDPOINT_URL with static test credentials.
SERVICES+=(sqs)
SQS_TEST_PORT=${SQS_TEST_PORT:-4566}
SQS_PID="$RUN_DIR/moto.pid"
export AWS_ENDPOINT_URL=${AWS_ENDPOINT_URL:-http://127.0.0.1:$SQS_TEST_PORT}
export AWS_REGION=${AWS_REGION:-us-east-1}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}

sqs_up() {
  if wait_port "$SQS_TEST_PORT" 0; then
    log "sqs: already listening on 127.0.0.1:$SQS_TEST_PORT"
    return 0
  fi
  if ! "$VENV/bin/python" -c "import moto.server" 2>/dev/null; then
    log "sqs: moto_server missing from $VENV (see scripts/requirements.txt)"
    return 1
  fi
  log "starting moto_server (SQS, SNS) on 127.0.0.1:$SQS_TEST_PORT"
  nohup "$VENV/bin/python" scripts/moto_server.py -H 127.0.0.1 -p "$SQS_TEST_PORT" >"$RUN_DIR/moto.log" 2>&1 &
  echo $! >"$SQS_PID"
  wait_port "$SQS_TEST_PORT" 60 || { log "sqs: port $SQS_TEST_PORT not open (see $RUN_DIR/moto.log)"; return 1; }
  log "sqs: up"
}

sqs_down() {
  if [ -f "$SQS_PID" ]; then
    kill "$(cat "$SQS_PID")" 2>/dev/null || true
    rm -f "$SQS_PID"
    log "sqs: stopped"
  fi
}

sqs_status() {
  if wait_port "$SQS_TEST_PORT" 0; then log "sqs: listening on $SQS_TEST_PORT"; else log "sqs: stopped"; fi
}
