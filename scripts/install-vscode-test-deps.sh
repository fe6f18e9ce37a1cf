#!/usr/bin/env bash
# Installs what the real-VS-Code suites need (test/extension, test/ui) on a bare Debian machine, offline
# apart from the Debian and npm mirrors: Debian build deps + Chromium, and code-server 4.100.3 (VS Code 1.100,
# the last release running on Node 20). Idempotent: a second run only checks and returns in about a second.
# Run as root. See /work/shared/notes/real-vscode-offline.md for why each step is there.
set -euo pipefail

CODE_SERVER_VERSION="${CODE_SERVER_VERSION:-4.100.3}"
# Outside the repository on purpose: code-server must never land in the project's node_modules.
CODE_SERVER_PREFIX="${CODE_SERVER_PREFIX:-/opt/code-server}"
DEBIAN_PACKAGES=(libkrb5-dev libsecret-1-dev libxkbfile-dev libx11-dev ripgrep chromium)

log() { printf '[install-vscode-test-deps] %s\n' "$*"; }

if [[ "$(id -u)" != 0 ]]; then
  echo "install-vscode-test-deps.sh must run as root (apt-get, global npm install)." >&2
  exit 1
fi

# 1. Debian packages — apt-get update only when something is missing, so the second run stays fast.
missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  log "Debian packages present"
fi

# 2. code-server.
installed_version() {
  local bin="$CODE_SERVER_PREFIX/node_modules/.bin/code-server"
  [[ -x "$bin" ]] || return 1
  # The first run may print a log line (it writes its default config) before "4.100.3 <sha> with Code …".
  "$bin" --version 2>/dev/null | grep -oE '^[0-9]+\.[0-9]+\.[0-9]+ ' | head -n1 | tr -d ' '
}
if [[ "$(installed_version || true)" == "$CODE_SERVER_VERSION" ]]; then
  log "code-server $CODE_SERVER_VERSION present in $CODE_SERVER_PREFIX"
else
  # @vscode/ripgrep's postinstall downloads rg from GitHub unless this cache archive exists; build it from
  # Debian's rg. The cache lives in os.tmpdir(), so pin TMPDIR for the install.
  install_tmp="$(mktemp -d)"
  trap 'rm -rf "$install_tmp"' EXIT
  rg_cache="$install_tmp/vscode-ripgrep-cache-1.15.11"
  mkdir -p "$rg_cache"
  cp /usr/bin/rg "$install_tmp/rg"
  tar -czf "$rg_cache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" -C "$install_tmp" rg
  rm "$install_tmp/rg"

  log "installing code-server@$CODE_SERVER_VERSION into $CODE_SERVER_PREFIX (about a minute)"
  rm -rf "$CODE_SERVER_PREFIX"
  mkdir -p "$CODE_SERVER_PREFIX"
  # A plain local install run from inside the prefix, on purpose: code-server's postinstall runs a nested
  # `npm install` in lib/vscode, and flags such as --global/--prefix leak into it through npm_config_* and
  # make it install into the wrong tree. unsafe-perm: that postinstall refuses to run as root without it;
  # yes: it calls `npx node-gyp`, which would otherwise prompt.
  (cd "$CODE_SERVER_PREFIX" && echo '{"private":true}' > package.json &&
    TMPDIR="$install_tmp" npm_config_yes=true npm_config_unsafe_perm=true \
      npm install --no-audit --no-fund --no-save "code-server@$CODE_SERVER_VERSION")
  got="$(installed_version || true)"
  if [[ "$got" != "$CODE_SERVER_VERSION" ]]; then
    echo "code-server install finished but '$CODE_SERVER_PREFIX/node_modules/.bin/code-server --version' gave '$got'." >&2
    exit 1
  fi
fi

# A stable name on PATH; the runners also look in $CODE_SERVER_PREFIX/node_modules/.bin directly.
code_server_bin="$CODE_SERVER_PREFIX/node_modules/.bin/code-server"
if [[ "$(readlink -f /usr/local/bin/code-server 2>/dev/null || true)" != "$(readlink -f "$code_server_bin")" ]]; then
  ln -sf "$code_server_bin" /usr/local/bin/code-server
fi
log "ready: code-server $("$code_server_bin" --version | grep -E '^[0-9]' | head -n1), $(/usr/bin/chromium --version 2>/dev/null || echo 'chromium ?')"
