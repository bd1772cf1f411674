# A real SMTP server for the email provider's tests: aiosmtpd (PyPI, in
# .venv) on 127.0.0.1:$SMTP_TEST_PORT (default 2525), plain text, storing
# every message it receives in the Maildir $RUN_DIR/smtp/Maildir (one file
# per message under new/), where the tests look for what they sent.
SERVICES+=(smtp)
SMTP_TEST_PORT=${SMTP_TEST_PORT:-2525}
SMTP_DIR="$RUN_DIR/smtp"
SMTP_PID="$SMTP_DIR/aiosmtpd.pid"
export SMTP_TEST_PORT

smtp_running() {
  [ -f "$SMTP_PID" ] && kill -0 "$(cat "$SMTP_PID")" 2>/dev/null
}

smtp_up() {
  if smtp_running; then
    log "smtp: already running on 127.0.0.1:$SMTP_TEST_PORT"
    return 0
  fi
  if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import aiosmtpd' 2>/dev/null; then
    log "smtp: aiosmtpd missing from $VENV (see scripts/requirements.txt)"
    return 1
  fi
  if wait_port "$SMTP_TEST_PORT" 0; then
    # Another checkout's server would keep the mail where these tests do not look.
    log "smtp: 127.0.0.1:$SMTP_TEST_PORT is taken by another process; stop it or set SMTP_TEST_PORT"
    return 1
  fi
  # Python's Maildir creates its subfolders only for a new folder: make them all.
  mkdir -p "$SMTP_DIR/Maildir/tmp" "$SMTP_DIR/Maildir/new" "$SMTP_DIR/Maildir/cur"
  log "starting aiosmtpd on 127.0.0.1:$SMTP_TEST_PORT"
  nohup "$VENV/bin/python" -m aiosmtpd -n -l "127.0.0.1:$SMTP_TEST_PORT" \
    -c aiosmtpd.handlers.Mailbox "$SMTP_DIR/Maildir" \
    >"$SMTP_DIR/aiosmtpd.log" 2>&1 &
  echo $! >"$SMTP_PID"
  wait_port "$SMTP_TEST_PORT" 30 || { log "smtp: port $SMTP_TEST_PORT not open (see $SMTP_DIR/aiosmtpd.log)"; return 1; }
  log "smtp: up, messages in $SMTP_DIR/Maildir"
}

smtp_down() {
  if smtp_running; then
    kill "$(cat "$SMTP_PID")" 2>/dev/null || true
    log "smtp: stopped"
  fi
  rm -f "$SMTP_PID"
}

smtp_status() {
  if smtp_running; then log "smtp: running on 127.0.0.1:$SMTP_TEST_PORT (pid $(cat "$SMTP_PID"))"; else log "smtp: stopped"; fi
}
