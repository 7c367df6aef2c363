# Source this file. Installs the Debian packages kart's tests and demo use, when any is missing.
# One list, used by .ci/run, scripts/test.sh and scripts/demo.sh.
KART_DEBIAN_PACKAGES="docker-registry skopeo squashfs-tools apache2-utils cryptsetup-bin curl ca-certificates openssl xz-utils lz4 zstd e2fsprogs fdisk erofs-utils xfsprogs oci-image-tool git"
# apt waits up to this many seconds for another apt/dpkg (unattended-upgrades, a second shell) to
# release the dpkg lock, instead of failing at once.
KART_APT_LOCK_TIMEOUT="${KART_APT_LOCK_TIMEOUT:-600}"
_kart_missing=""
for _p in $KART_DEBIAN_PACKAGES; do
  dpkg-query -W -f='${Status}' "$_p" 2>/dev/null | grep -q 'install ok installed' || _kart_missing="$_kart_missing $_p"
done
# npm fetches the Node toolchain (scripts/toolchain.sh) and the project's dependencies; a machine
# with no Node at all gets Debian's npm (and with it Debian's nodejs, which toolchain.sh replaces
# when it is older than kart needs).
command -v npm >/dev/null 2>&1 || _kart_missing="$_kart_missing npm"
if [ -n "$_kart_missing" ]; then
  if [ "$(id -u)" = 0 ]; then _kart_sudo=""; else _kart_sudo="sudo"; fi
  echo "kart: installing Debian packages:$_kart_missing" >&2
  $_kart_sudo apt-get -o DPkg::Lock::Timeout="$KART_APT_LOCK_TIMEOUT" update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $_kart_sudo apt-get -o DPkg::Lock::Timeout="$KART_APT_LOCK_TIMEOUT" \
    install -y -qq --no-install-recommends $_kart_missing >/dev/null
fi
unset _p _kart_missing _kart_sudo
