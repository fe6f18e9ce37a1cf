#!/usr/bin/env bash
# Builds the team server image from deploy/Dockerfile with Podman, offline.
# Container registries are not reachable here, so the Dockerfile's base (node:22-bookworm-slim) is made locally
# once: a debootstrap'd Debian bookworm with this machine's node binary and a uid-1000 "node" user, tagged
# with the FROM name and cached (podman image exists). The project's Dockerfile itself is unchanged.
#   scripts/build-image.sh [TAG]     (default switchboard:dev; prints the tag on its last line)
set -euo pipefail
cd "$(dirname "$0")/.."
TAG="${1:-localhost/switchboard:dev}"
BASE="docker.io/library/node:22-bookworm-slim"
CACHE="${SWITCHBOARD_IMAGE_CACHE:-$HOME/.cache/switchboard/podman}"
mkdir -p "$CACHE"

for tool in podman debootstrap; do
  command -v "$tool" >/dev/null || { echo "build-image: $tool is not installed (apt-get install -y podman runc debootstrap)" >&2; exit 1; }
done

# This VM: crun refuses the hybrid cgroup layout (use runc), and Podman's default ulimits exceed the hard limits.
export CONTAINERS_CONF="$CACHE/containers.conf"
cat > "$CONTAINERS_CONF" <<'CONF'
[engine]
runtime = "runc"
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
CONF

if ! podman image exists "$BASE"; then
  echo "== base image $BASE (debootstrap, once)" >&2
  MIRROR="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
  MIRROR="${MIRROR:-http://deb.debian.org/debian}"
  WORK="$(mktemp -d)"
  trap 'rm -rf "$WORK"' EXIT
  debootstrap --variant=minbase bookworm "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }
  rm -rf "$WORK/rootfs/var/cache/apt/archives/"*.deb "$WORK/rootfs/var/lib/apt/lists/"*
  tar -C "$WORK/rootfs" -c . | podman import - localhost/debian:bookworm-slim >/dev/null
  mkdir -p "$WORK/ctx"
  cp "$(command -v node)" "$WORK/ctx/node"
  cat > "$WORK/ctx/Containerfile" <<'BASEFILE'
FROM localhost/debian:bookworm-slim
COPY node /usr/local/bin/node
RUN groupadd --gid 1000 node && useradd --uid 1000 --gid node --create-home --shell /bin/bash node
CMD ["node"]
BASEFILE
  podman build --pull=never --network host -t "$BASE" "$WORK/ctx" >&2
fi

if [ ! -f dist/sidecar.js ] || [ "${SWITCHBOARD_REBUILD:-1}" = 1 ]; then
  node scripts/build.mjs >&2
fi

# The context is the bundle alone (what deploy/Dockerfile.dockerignore keeps for Docker users).
CTX="$(mktemp -d)"
trap 'rm -rf "$CTX" ${WORK:+"$WORK"}' EXIT
mkdir -p "$CTX/dist"
cp -R dist/sidecar.js dist/sidecar dist/sql-wasm.wasm "$CTX/dist/"
podman build --pull=never --network host --format docker -f deploy/Dockerfile -t "$TAG" "$CTX" >&2
echo "$TAG"
