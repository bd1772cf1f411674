#!/usr/bin/env bash
# Runs every benchmark against the local brokers and databases and prints
# one table: what, SDK figure, baseline figure (same run), ratio, target,
# met. Each bench prints its own report too; the full logs stay in
# target/bench/<name>.log and the table in target/bench/table.md.
#
#   scripts/bench.sh                 # every bench
#   scripts/bench.sh memory_bus fraud   # some of them
#
# Sizes: BENCH_MESSAGES, BENCH_ROUNDS and each bench's own variables (see
# the head of each file under benches/ and BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."

# name and the features it needs
ALL=(
  "memory_bus memory"
  "positions memory"
  "fraud memory"
  "amqp amqp"
  "kafka kafka"
  "sqs sqs"
  "outbox amqp,postgres"
  "pg_positions postgres"
)

selected=("$@")
wanted() {
  [ ${#selected[@]} -eq 0 ] && return 0
  local s
  for s in "${selected[@]}"; do [ "$s" = "$1" ] && return 0; done
  return 1
}

needs_services=0
for entry in "${ALL[@]}"; do
  read -r name features <<<"$entry"
  if wanted "$name" && [ "$features" != memory ]; then needs_services=1; fi
done
if [ $needs_services = 1 ]; then
  scripts/services.sh up
fi
export WAITLIST_REQUIRE_BROKERS=1
export AMQP_URL=${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/waitlist-test}
export KAFKA_BROKERS=${KAFKA_BROKERS:-127.0.0.1:9092}
export AWS_ENDPOINT_URL=${AWS_ENDPOINT_URL:-http://127.0.0.1:4566}
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}

mkdir -p target/bench
failed=()
for entry in "${ALL[@]}"; do
  read -r name features <<<"$entry"
  wanted "$name" || continue
  if ! grep -q "^name = \"$name\"" Cargo.toml; then
    echo "== $name: no such bench" >&2
    failed+=("$name")
    continue
  fi
  echo "== cargo bench --bench $name --features $features"
  if ! cargo bench --quiet --bench "$name" --features "$features" 2>&1 | tee "target/bench/$name.log"; then
    failed+=("$name")
  fi
done

{
  echo "| what | SDK | baseline (same run) | ratio | target | met |"
  echo "|---|---|---|---|---|---|"
  for entry in "${ALL[@]}"; do
    read -r name _ <<<"$entry"
    wanted "$name" || continue
    [ -f "target/bench/$name.log" ] || continue
    awk -F'|' '/^BENCH\|/ { printf "|"; for (i = 2; i <= NF; i++) printf " %s |", $i; print "" }' "target/bench/$name.log"
  done
} > target/bench/table.md

echo
echo "== results ($(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); table in target/bench/table.md)"
cat target/bench/table.md
if [ ${#failed[@]} -gt 0 ]; then
  echo "benches that failed: ${failed[*]}" >&2
  exit 1
fi
