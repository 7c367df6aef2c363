#!/usr/bin/env bash
# The test command: typecheck, lint and every test, against real parts (registry, skopeo, mksquashfs,
# Debian kernels). Installs what is missing first, so it works on a fresh Debian machine.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/debian-deps.sh
. scripts/toolchain.sh
[ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund
# Run as root, some tests run kart as nobody (an unprivileged rootfs builder, caches it cannot write).
# A checkout nobody cannot reach (cloned under /root, which is 0700) would fail them for that alone:
# the tests then run in a copy under /var/tmp made of hard links (no bytes copied; a full copy when
# /var/tmp is another filesystem), removed at the end. Nothing outside the copy changes.
if [ "$(id -u)" = 0 ] && ! setpriv --reuid=65534 --regid=65534 --clear-groups -- \
  test -r bin/kart.js -a -x "$(command -v node)"; then
  _kart_copy="$(mktemp -d /var/tmp/kart-tests.XXXXXX)"
  trap 'rm -rf "$_kart_copy"' EXIT
  chmod 755 "$_kart_copy"
  echo "kart: nobody cannot read $PWD; running the tests in $_kart_copy/kart" >&2
  cp -al . "$_kart_copy/kart" 2>/dev/null || { rm -rf "$_kart_copy/kart"; cp -a . "$_kart_copy/kart"; }
  cd "$_kart_copy/kart"
  . scripts/toolchain.sh
fi
npm test
