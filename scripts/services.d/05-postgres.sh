# PostgreSQL on 127.0.0.1:5432 (the Debian cluster `main`, trust auth,
# database `test`; installed from Debian's packages and set up so when
# missing) for waitlist-postgres. Tests reach it through
# DATABASE_URL; each test makes and drops a schema of its own.
SERVICES+=(postgres)
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}

postgres_version() {
  ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1
}

postgres_ready() {
  psql "$DATABASE_URL" -Atqc 'select 1' >/dev/null 2>&1
}

# As the postgres superuser over the local socket (peer auth).
as_postgres() {
  runuser -u postgres -- "$@"
}

# Trust for local TCP connections, as the tests expect (a fresh Debian
# cluster asks for passwords); only 127.0.0.1 and ::1.
postgres_trust_local() {
  local hba="/etc/postgresql/$1/main/pg_hba.conf"
  if ! grep -q "waitlist: trust local TCP" "$hba"; then
    log "postgres: trusting 127.0.0.1 in $hba"
    {
      echo "# waitlist: trust local TCP (scripts/services.d/05-postgres.sh)"
      echo "host all all 127.0.0.1/32 trust"
      echo "host all all ::1/128 trust"
      cat "$hba"
    } > "$hba.new" && mv "$hba.new" "$hba"
    chown postgres:postgres "$hba"
    pg_ctlcluster --skip-systemctl-redirect "$1" main reload || true
  fi
}

postgres_up() {
  if postgres_ready; then
    log "postgres: up ($DATABASE_URL)"
    return 0
  fi
  local version
  version=$(postgres_version)
  if [ -z "$version" ]; then
    log "installing postgresql"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-client >/dev/null
    version=$(postgres_version)
    [ -n "$version" ] || { log "postgres: no cluster after installing"; return 1; }
  fi
  if ! pg_lsclusters -h 2>/dev/null | grep -q "^$version main .* online"; then
    log "starting postgresql $version/main"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
  fi
  wait_port 5432 60 || { log "postgres: port 5432 not open"; return 1; }
  postgres_trust_local "$version"
  if ! as_postgres psql -Atqc "select 1 from pg_database where datname = 'test'" | grep -q 1; then
    log "postgres: creating database test"
    as_postgres createdb test
  fi
  postgres_ready || { log "postgres: $DATABASE_URL refuses queries"; return 1; }
  log "postgres: up ($DATABASE_URL)"
}

# Left running: the cluster is the machine's, not started for one run.
postgres_down() { :; }

postgres_status() {
  if postgres_ready; then log "postgres: running"; else log "postgres: stopped"; fi
}
