#!/usr/bin/env bash
# The one test command: format check, clippy with warnings as errors, docs,
# and every test of the workspace with every feature, brokers required.
set -euo pipefail
cd "$(dirname "$0")/.."

export WAITLIST_REQUIRE_BROKERS=1
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

scripts/services.sh up
# What the service scripts set up for the tests (see scripts/services.d).
export AMQP_URL=${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/waitlist-test}
export KAFKA_BROKERS=${KAFKA_BROKERS:-127.0.0.1:9092}
export SMTP_TEST_PORT=${SMTP_TEST_PORT:-2525}
export AWS_ENDPOINT_URL=${AWS_ENDPOINT_URL:-http://127.0.0.1:4566}
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --all-features -- -D warnings

echo "== cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps --quiet

echo "== example local_queue"
cargo run --quiet --example local_queue > target/local_queue.out
tail -n 4 target/local_queue.out

echo "== example kafka_worker --demo (against the local broker)"
cargo run --quiet --example kafka_worker --features kafka,webhooks -- --demo > target/kafka_worker.out
grep -q "Kafka event consumer server configuration" target/kafka_worker.out
tail -n 6 target/kafka_worker.out

echo "== cargo test"
cargo test --workspace --doc --all-features
cargo test --workspace --all-targets --all-features
