#!/usr/bin/env bash
# The README's main job in one command, with no server and no hand-made input:
#   1. fetch Debian's cloud kernel package (apt-get download + dpkg-deb -x, cached in .cache/)
#   2. kart check it against the zone flavor: it shows what a Debian cloud kernel lacks for a Xen zone
#   3. kart publish it (catalogue kernels/sample.ini, flavor demo, which it meets) into the embedded
#      default store, an OCI image layout directory: ./demo-store
#   4. kart pull -k it back from that layout into ./demo-kernel, verifying every byte
# KART_DEMO_DIR puts demo-store/ and demo-kernel/ somewhere else (default: the repository root).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
. scripts/debian-deps.sh
. scripts/toolchain.sh
[ -d node_modules ] || npm ci --no-audit --no-fund
out="${KART_DEMO_DIR:-$root}"
mkdir -p "$out"
store="$out/demo-store"
dest="$out/demo-kernel"
kart() { node "$root/bin/kart.js" "$@"; }
step() { printf '\n==> %s\n' "$*"; }

step "1/4 Fetch Debian's cloud kernel (linux-image-cloud-amd64) unless cached"
kernel_dir="$(bash scripts/fetch-debian-kernel.sh cloud-amd64)"
config="$(ls "$kernel_dir"/boot/config-*)"
echo "unpacked in $kernel_dir: $(cd "$kernel_dir" && ls boot/ | tr '\n' ' ')"

step "2/4 kart check --flavor zone: what this kernel lacks to run as a Xen zone"
set +e
kart check --flavor zone "$config"
status=$?
set -e
if [ "$status" = 1 ]; then
  echo "(exit 1, as expected: Debian's cloud kernel is not a zone kernel; the demo goes on with the demo flavor)"
elif [ "$status" != 0 ]; then
  echo "kart check failed to run (exit $status)" >&2
  exit "$status"
fi
kart check --flavor kernels/flavors/demo.ini "$config" | tail -n 1

step "3/4 kart publish --catalogue kernels/sample.ini --to oci:$store"
kart publish --catalogue kernels/sample.ini --to "oci:$store"

step "4/4 kart pull -k oci:$store:debian-cloud --dest $dest"
kart pull -k "oci:$store:debian-cloud" --dest "$dest" --arch amd64

step "Done"
echo "store (an OCI image layout; skopeo and oras read it too): $store"
kart tags "oci:$store" 2>/dev/null | sed 's/^/  tag /' || true
echo "installed kernel: $dest"
ls -l "$dest/"
cat "$dest/metadata"
