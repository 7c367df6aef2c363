# Source this file. Installs the Debian packages kart's tests and demo use, when any is missing.
# One list, used by .ci/run, scripts/test.sh and scripts/demo.sh.
KART_DEBIAN_PACKAGES="docker-registry skopeo squashfs-tools apache2-utils cryptsetup-bin e2fsprogs fdisk erofs-utils curl ca-certificates openssl"
_kart_missing=""
for _p in $KART_DEBIAN_PACKAGES; do
  dpkg-query -W -f='${Status}' "$_p" 2>/dev/null | grep -q 'install ok installed' || _kart_missing="$_kart_missing $_p"
done
if [ -n "$_kart_missing" ]; then
  if [ "$(id -u)" = 0 ]; then _kart_sudo=""; else _kart_sudo="sudo"; fi
  echo "kart: installing Debian packages:$_kart_missing" >&2
  $_kart_sudo apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $_kart_sudo apt-get install -y -qq --no-install-recommends $_kart_missing >/dev/null
fi
unset _p _kart_missing _kart_sudo
