#!/usr/bin/env bash
# Runs every benchmark against the local brokers and databases and prints
# one table: what, SDK figure, baseline figure (same run), ratio, target,
# met. Each bench prints its own report too; the full logs stay in
# target/bench/<name>.log and the table in target/bench/table.md.
#
#   scripts/bench.sh                 # every bench
#   scripts/bench.sh memory_bus fraud   # some of them
#
# The callgrind bench needs valgrind (`apt-get install valgrind`).
#
# Sizes: BENCH_MESSAGES, BENCH_ROUNDS and each bench's own variables (see
# the head of each file under benches/ and waitlist-benches/benches/, and
# BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."

# name, the package it is in, and the features it needs. The facade
# (`waitlist`, benches/) holds the memory and algorithm benches; the broker
# and database ones are in waitlist-benches/, so that the facade's benches
# compile no broker client.
ALL=(
  "memory_bus waitlist memory"
  "allocations waitlist memory"
  "callgrind waitlist memory"
  "memory_load waitlist memory"
  "webhook_delivery waitlist memory,webhooks"
  "positions waitlist memory"
  "fraud waitlist memory"
  "amqp waitlist-benches amqp"
  "kafka waitlist-benches kafka"
  "sqs waitlist-benches sqs"
  "outbox waitlist-benches amqp,postgres"
  "pg_positions waitlist-benches postgres"
)

# The manifest of a package of the workspace.
manifest() {
  if [ "$1" = waitlist ]; then echo Cargo.toml; else echo "$1/Cargo.toml"; fi
}

selected=("$@")
wanted() {
  [ ${#selected[@]} -eq 0 ] && return 0
  local s
  for s in "${selected[@]}"; do [ "$s" = "$1" ] && return 0; done
  return 1
}

needs_services=0
for entry in "${ALL[@]}"; do
  read -r name _ features <<<"$entry"
  wanted "$name" || continue
  # Only the broker and database benches need the local services.
  case ",$features," in
    *,amqp,* | *,kafka,* | *,sqs,* | *,postgres,* | *,redis,*) needs_services=1 ;;
  esac
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
  read -r name package features <<<"$entry"
  wanted "$name" || continue
  if ! grep -q "^name = \"$name\"" "$(manifest "$package")"; then
    echo "== $name: no such bench in $package" >&2
    failed+=("$name")
    continue
  fi
  echo "== cargo bench -p $package --bench $name --features $features"
  if ! cargo bench --quiet -p "$package" --bench "$name" --features "$features" 2>&1 | tee "target/bench/$name.log"; then
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
