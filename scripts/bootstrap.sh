#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine: installs what is missing, builds what is stale, and
# says what it did. `npm start` and `npm test` run it first; it is quiet when nothing is to do.
#   --test   also what the test suite needs: cmake for the native engines' C++ tests, clang and
#            its libFuzzer runtime for the WAL reader fuzz target
#   --bench  also what the benchmarks need: Intel ISA-L, the erasure-code reference
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'bootstrap: %s\n' "$*" >&2; }

major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  say "Node.js $(node --version) is too old; Hive needs Node.js 20 or newer."
  exit 1
fi

# Debian packages: nats-server (the embedded bus), QEMU (instances, disk images), awscli (the tests
# and the user's client). Only root can install; anyone else is told what to run.
# g++, make and python3 build the native addon (node-gyp) during npm ci.
debs=(nats-server qemu-system-x86 qemu-utils awscli g++ make python3)
for flag in "$@"; do
  case "$flag" in
    # genisoimage (isoinfo) and python3-yaml check the cloud-init seed images in the tests.
    --test) debs+=(cmake clang libclang-rt-14-dev genisoimage python3-yaml) ;;
    --bench) debs+=(cmake libisal-dev) ;;
  esac
done
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    say "missing Debian packages: ${missing[*]}"
    say "install them with: sudo apt-get install ${missing[*]}"
    command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || [ -n "${HIVE_NATS_SERVER:-}" ] || {
      say "nats-server is required (or start hive with --nats URL)"; exit 1; }
  fi
fi

# npm dependencies, reinstalled only when package-lock.json changed since the last install.
# `npm ci` also builds the native addon (binding.gyp, via the install script).
stamp=node_modules/.hive-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  say "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

# The native addon, rebuilt when any of its sources is newer than the binary.
addon=build/Release/hive_native.node
if [ ! -f "$addon" ] || [ -n "$(find native binding.gyp -newer "$addon" -type f 2>/dev/null | head -1)" ]; then
  say "building the native addon"
  npx --no-install node-gyp rebuild --loglevel=error >/dev/null
fi
