# The project's Python virtualenv (.venv) with scripts/requirements.txt:
# independent clients for interoperability tests and local test servers.
SERVICES+=(python)

python_up() {
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV"
    python3 -m venv "$VENV"
  fi
  local stamp="$VENV/.requirements.sha"
  local want
  want=$(sha256sum scripts/requirements.txt | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "installing scripts/requirements.txt into $VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r scripts/requirements.txt
    echo "$want" > "$stamp"
  fi
}

python_down() { :; }

python_status() {
  if [ -x "$VENV/bin/python" ]; then log "python: $VENV"; else log "python: no virtualenv"; fi
}
