#!/usr/bin/env bash
# The whole suite: type check, the native engines' C++ tests (plus an ASan/UBSan build of them
# under CI=true or HIVE_SANITIZE=1), then every tap test (unit, integration through the real aws
# CLI and SDKs, real nats-server, WAL crash test). Ends with one 'N passed, N failed' line
# counting tap assertions and C++ test programs.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --test || exit 1

native_pass=0
native_fail=0
native_suite() { # <build dir> [cmake args…]
  local dir=$1; shift
  if cmake -S native -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null && cmake --build "$dir" -j2 >/dev/null; then
    local out
    out=$(ctest --test-dir "$dir" --output-on-failure 2>&1)
    echo "$out" | grep -E "tests passed|Test +#|\*\*\*" || true
    native_pass=$((native_pass + $(echo "$out" | grep -cE "Test +#.*Passed")))
    native_fail=$((native_fail + $(echo "$out" | grep -cE "Test +#.*(Failed|\*\*\*)")))
  else
    echo "native build failed: $dir"
    native_fail=$((native_fail + 1))
  fi
}

echo "type check (tsc --noEmit)"
npx --no-install tsc -p tsconfig.json --noEmit || { echo "0 passed, 1 failed"; exit 1; }

echo "native engines: C++ tests"
native_suite build-native/release
if [ "${CI:-}" = "true" ] || [ "${HIVE_SANITIZE:-}" = "1" ]; then
  echo "native engines: C++ tests under ASan/UBSan"
  native_suite build-native/asan -DHIVE_SANITIZE=ON
  if command -v clang++ >/dev/null; then
    echo "native engines: WAL reader fuzzing for ${HIVE_FUZZ_SECONDS:-60}s (native/fuzz/README.md)"
    if cmake -S native -B build-native/fuzz -DCMAKE_BUILD_TYPE=Release -DHIVE_FUZZ=ON -DHIVE_SANITIZE=ON \
         -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null &&
       cmake --build build-native/fuzz -j2 --target wal_reader_fuzz >/dev/null &&
       mkdir -p build-native/fuzz/corpus &&
       (cd build-native/fuzz && ./wal_reader_fuzz -max_total_time="${HIVE_FUZZ_SECONDS:-60}" -max_len=4096 corpus 2>&1 | tail -3); then
      native_pass=$((native_pass + 1))
    else
      echo "wal_reader_fuzz found a failure (build-native/fuzz/crash-*)"
      native_fail=$((native_fail + 1))
    fi
  fi
fi

out=$(mktemp)
npx --no-install tap "$@" 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
pass=$(grep -oE '^# \{ total: [0-9]+, pass: [0-9]+' "$out" | tail -1 | grep -oE 'pass: [0-9]+' | grep -oE '[0-9]+' || echo 0)
total=$(grep -oE '^# \{ total: [0-9]+' "$out" | tail -1 | grep -oE '[0-9]+' || echo 0)
fail=$((total - pass))
[ "$status" -ne 0 ] && [ "$fail" -eq 0 ] && fail=1
rm -f "$out"
echo "$((pass + native_pass)) passed, $((fail + native_fail)) failed"
[ "$status" -eq 0 ] && [ "$native_fail" -eq 0 ]
