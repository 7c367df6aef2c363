#!/usr/bin/env bash
# The test command: typecheck, lint and every test, against real parts (registry, skopeo, mksquashfs,
# Debian kernels). Installs what is missing first, so it works on a fresh Debian machine.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/debian-deps.sh
. scripts/toolchain.sh
[ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund
npm test
