#!/usr/bin/env bash
# Runs the fuzz targets — property tests that feed the decoders arbitrary
# and mutated input — with many cases each, and prints what ran.
#
#   scripts/fuzz.sh                       # 20,000 cases per property
#   PROPTEST_CASES=100000 scripts/fuzz.sh
#   scripts/fuzz.sh sqs                   # only targets whose name matches
#
# scripts/test.sh runs the same properties with 64 to 2,000 cases each.
# The targets are proptest properties (structure-aware generators, and
# "bursts": one case mutating a valid input 100 times, decoding each
# step), built in the test profile with the workspace's features, so the
# build is the one scripts/test.sh makes. A failure prints the minimal
# failing input; proptest stores its seed under proptest-regressions/ so
# that later runs try it first. See RELIABILITY.md.
set -euo pipefail
cd "$(dirname "$0")/.."

export PROPTEST_CASES=${PROPTEST_CASES:-20000}
# Shrinking a failure can take long; keep it bounded.
export PROPTEST_MAX_SHRINK_ITERS=${PROPTEST_MAX_SHRINK_ITERS:-4096}
THREADS=${FUZZ_THREADS:-2}
ONLY=${1:-}
BURST=100
mkdir -p target

# name | test target (lib:<package> or test:<name>) | test filter
TARGETS=(
  "events|test:decode_props|fuzz::"
  "auth|test:fuzz_auth|fuzz::"
  "ssrf|test:fuzz_ssrf|fuzz::"
  "amqp|lib:waitlist-transport-amqp|codec::fuzz::"
  "kafka|lib:waitlist-transport-kafka|codec::fuzz::"
  "sqs|lib:waitlist-transport-sqs|codec::fuzz::"
)

# Build once, as scripts/test.sh does, and find each target's executable.
BINS=target/fuzz-binaries.txt
cargo test --workspace --all-features --lib --test decode_props --test fuzz_auth --test fuzz_ssrf \
  --no-run --message-format=json 2>/dev/null |
  python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        target = m["target"]
        kind = "lib" if "lib" in target["kind"] else "test"
        name = target["name"].replace("_", "-") if kind == "lib" else target["name"]
        print(kind + ":" + name, m["executable"])
' >"$BINS"

total_props=0
total_cases=0
total_inputs=0
started=$(date +%s)
printf '%-7s %6s %12s %13s %8s\n' target props cases inputs seconds
for entry in "${TARGETS[@]}"; do
  IFS='|' read -r name target filter <<<"$entry"
  if [[ -n "$ONLY" && "$name" != *"$ONLY"* ]]; then
    continue
  fi
  bin=$(awk -v t="$target" '$1 == t { print $2 }' "$BINS" | head -n 1)
  if [[ -z "$bin" ]]; then
    echo "no executable for $target (see $BINS)" >&2
    exit 1
  fi
  mapfile -t props < <("$bin" "$filter" --list 2>/dev/null | sed -n 's/: test$//p')
  if [[ ${#props[@]} -eq 0 ]]; then
    echo "no properties matched $filter in $target" >&2
    exit 1
  fi
  t0=$(date +%s)
  if ! "$bin" "$filter" --test-threads="$THREADS" >"target/fuzz-$name.log" 2>&1; then
    cat "target/fuzz-$name.log" >&2
    echo "fuzz target $name FAILED (log: target/fuzz-$name.log)" >&2
    exit 1
  fi
  secs=$(( $(date +%s) - t0 ))
  cases=$(( ${#props[@]} * PROPTEST_CASES ))
  inputs=0
  for p in "${props[@]}"; do
    if [[ "$p" == *_bursts ]]; then
      inputs=$(( inputs + PROPTEST_CASES * BURST ))
    else
      inputs=$(( inputs + PROPTEST_CASES ))
    fi
  done
  printf '%-7s %6d %12d %13d %8d\n' "$name" "${#props[@]}" "$cases" "$inputs" "$secs"
  total_props=$(( total_props + ${#props[@]} ))
  total_cases=$(( total_cases + cases ))
  total_inputs=$(( total_inputs + inputs ))
done
printf '%-7s %6d %12d %13d %8d\n' total "$total_props" "$total_cases" "$total_inputs" $(( $(date +%s) - started ))
echo "no panics, every property held ($PROPTEST_CASES cases per property, $BURST inputs per burst case)"
