#!/usr/bin/env bash
# Fetches Debian's linux-image-<flavor> package (default cloud-amd64) once, with `apt-get download`,
# and unpacks it with `dpkg-deb -x` into the git-ignored .cache/debian-kernels/<flavor>/, the same
# place and layout the tests read (test/support/debian-kernels.ts runs this script too): a second run
# downloads nothing.
# Prints the unpacked directory (it holds boot/vmlinuz-*, boot/config-*, lib/modules/*).
set -euo pipefail
flavor="${1:-cloud-amd64}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="$root/.cache/debian-kernels"
if [ -f "$cache/$flavor.release" ] && [ -d "$cache/$flavor" ]; then
  echo "kart: Debian kernel $(cat "$cache/$flavor.release") already cached" >&2
  echo "$cache/$flavor"
  exit 0
fi
mkdir -p "$cache"
# The metapackage depends on the versioned package that holds the files.
pkg="$(apt-cache depends "linux-image-$flavor" 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\).*/\1/p' | head -n 1)"
if [ -z "$pkg" ]; then
  echo "kart: apt knows no linux-image-$flavor yet; running apt-get update" >&2
  if [ "$(id -u)" = 0 ]; then apt-get -o DPkg::Lock::Timeout="${KART_APT_LOCK_TIMEOUT:-600}" update -qq; else sudo apt-get -o DPkg::Lock::Timeout="${KART_APT_LOCK_TIMEOUT:-600}" update -qq; fi
  pkg="$(apt-cache depends "linux-image-$flavor" | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\).*/\1/p' | head -n 1)"
fi
if [ -z "$pkg" ]; then
  echo "kart: no linux-image-$flavor in the apt sources of this machine (Debian's main archive has it)" >&2
  exit 2
fi
release="${pkg#linux-image-}"
release="${release%-unsigned}"
work="$cache/$flavor.tmp-$$"
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
echo "kart: apt-get download $pkg" >&2
(cd "$work" && apt-get download -q "$pkg" >/dev/null)
dpkg-deb -x "$work"/*.deb "$work/root"
rm -rf "${cache:?}/$flavor"
mv "$work/root" "$cache/$flavor"
printf '%s\n' "$release" >"$cache/$flavor.release"
echo "$cache/$flavor"
