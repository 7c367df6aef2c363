# Source this file: `. scripts/toolchain.sh`. It puts a Node >= 22.19 first on PATH.
# Node 20 (this machine's system node) is end of life and current undici/vitest need 22+,
# so when the system node is older we unpack the npm registry's `node-linux-<arch>@24` package
# (x64 or arm64, from `uname -m`) into the git-ignored .toolchain/ folder once and use it from then on.
# This is the only place in the project that fetches a toolchain.
_kart_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
_kart_node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=19)?0:1)'
}
if [ -x "$_kart_root/.toolchain/node/bin/node" ]; then
  PATH="$_kart_root/.toolchain/node/bin:$PATH"; export PATH
elif ! _kart_node_ok; then
  case "$(uname -m)" in
    x86_64 | amd64) _kart_arch=x64 ;;
    aarch64 | arm64) _kart_arch=arm64 ;;
    *) _kart_arch="" ;;
  esac
  if [ -z "$_kart_arch" ]; then
    echo "kart: no Node build for $(uname -m) here; install Node >= 22.19 yourself (https://nodejs.org)" >&2
  else
    echo "kart: system node $(node --version 2>/dev/null || echo missing) is older than 22.19; installing node-linux-$_kart_arch@24 into .toolchain/" >&2
    _kart_tmp="$(mktemp -d)"
    if (cd "$_kart_tmp" && npm pack --silent "node-linux-$_kart_arch@24" >/dev/null) && \
       mkdir -p "$_kart_root/.toolchain/node" && \
       tar -xzf "$_kart_tmp"/node-linux-"$_kart_arch"-*.tgz -C "$_kart_root/.toolchain/node" --strip-components=1; then
      PATH="$_kart_root/.toolchain/node/bin:$PATH"; export PATH
    else
      echo "kart: could not install Node 24 from the npm registry (npm pack node-linux-$_kart_arch@24)" >&2
      rm -rf "$_kart_root/.toolchain/node"
    fi
    rm -rf "$_kart_tmp"
  fi
fi
unset -f _kart_node_ok
unset _kart_root _kart_tmp _kart_arch
