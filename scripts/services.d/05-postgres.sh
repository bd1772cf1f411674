# PostgreSQL on 127.0.0.1:5432 (the Debian cluster `main`, trust auth,
# database `test`) for waitlist-postgres. Tests reach it through
# DATABASE_URL; each test makes and drops a schema of its own.
SERVICES+=(postgres)
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}

postgres_version() {
  ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1
}

postgres_ready() {
  psql "$DATABASE_URL" -Atqc 'select 1' >/dev/null 2>&1
}

postgres_up() {
  if postgres_ready; then
    log "postgres: up ($DATABASE_URL)"
    return 0
  fi
  local version
  version=$(postgres_version)
  if [ -z "$version" ]; then
    log "postgres: no cluster under /etc/postgresql"
    return 1
  fi
  log "starting postgresql $version/main"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  wait_port 5432 60 || { log "postgres: port 5432 not open"; return 1; }
  postgres_ready || { log "postgres: $DATABASE_URL refuses queries"; return 1; }
  log "postgres: up ($DATABASE_URL)"
}

# Left running: the cluster is the machine's, not started for one run.
postgres_down() { :; }

postgres_status() {
  if postgres_ready; then log "postgres: running"; else log "postgres: stopped"; fi
}
