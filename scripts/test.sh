#!/usr/bin/env bash
# The whole suite: type check, then every tap test (unit, integration through the real aws CLI and
# SDKs, real nats-server). HIVE_SKIP_SLOW=1 skips tests tagged slow (VM boots); CI runs them all.
# Ends with one 'N passed, N failed' line.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --test || exit 1
echo "type check (tsc --noEmit)"
npx --no-install tsc -p tsconfig.json --noEmit || { echo "0 passed, 1 failed"; exit 1; }
out=$(mktemp)
npx --no-install tap "$@" 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
pass=$(grep -oE '^# \{ total: [0-9]+, pass: [0-9]+' "$out" | tail -1 | grep -oE 'pass: [0-9]+' | grep -oE '[0-9]+' || echo 0)
total=$(grep -oE '^# \{ total: [0-9]+' "$out" | tail -1 | grep -oE '[0-9]+' || echo 0)
fail=$((total - pass))
[ "$status" -ne 0 ] && [ "$fail" -eq 0 ] && fail=1
rm -f "$out"
echo "$pass passed, $fail failed"
exit "$status"
