#!/usr/bin/env bash
# `make images`: the six service images built with podman, without Docker and without an image registry
# (docs/images.md).
#
#   bash scripts/images.sh [build]   tools → base → uv image → the six images → their sizes (the default)
#   bash scripts/images.sh tools     podman, buildah, runc, debootstrap from Debian's packages when missing
#   bash scripts/images.sh base      only the local base image
#   bash scripts/images.sh sizes     one line per service image: name, size
#   bash scripts/images.sh prune     remove the untagged images earlier builds left (only this script's)
#
# The base: Debian ${DEBIAN_RELEASE} (minbase + python3) made by debootstrap from ${DEBIAN_MIRROR}; the root
# filesystem tarball is kept in .cache/images/ and made again only when it is missing. On top of it goes the CA
# bundle this host trusts (${CA_BUNDLE}, as SSL_CERT_FILE): behind a TLS-intercepting proxy, uv inside the build
# must trust the proxy's CA, and the host's bundle already does. The uv image holds the uv binary the project
# installed (.cache/tools/bin/uv) at /uv. A machine with a registry needs none of this: the Dockerfile's
# defaults (python:3.11.13-slim-bookworm, ghcr.io/astral-sh/uv) are the public images.
#
# Settings (environment): IMAGE_TAG (local), DEBIAN_RELEASE (bookworm), DEBIAN_MIRROR, CA_BUNDLE, UV_BIN,
# SERVICES (all six), IMAGES_CACHE (.cache/images: the rootfs tarball, build logs), PODMAN_RUNTIME (runc:
# podman's default crun cannot set rlimits here).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE_TAG=${IMAGE_TAG:-local}
DEBIAN_RELEASE=${DEBIAN_RELEASE:-bookworm}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
UV_BIN=${UV_BIN:-.cache/tools/bin/uv}
read -r -a SERVICES <<<"${SERVICES:-ingest mixer submitter notifier transcriber web}"
declare -A PORT=([ingest]=8080 [mixer]=8081 [submitter]=8082 [notifier]=8083 [transcriber]=8084 [web]=8085)
CACHE=${IMAGES_CACHE:-.cache/images}
ROOTFS_TAR=$CACHE/debian-$DEBIAN_RELEASE-minbase.tar
ROOTFS_IMAGE=localhost/zoomsymbl-debian:$DEBIAN_RELEASE
BASE_IMAGE=localhost/zoomsymbl-base:$DEBIAN_RELEASE
UV_IMAGE=localhost/zoomsymbl-uv:local
# Every image this script builds (and each build stage) carries it, so `prune` removes only ours.
BUILT_BY=zoomsymbl.built-by=scripts/images.sh
PODMAN_RUNTIME=${PODMAN_RUNTIME:-$(command -v runc || echo /usr/sbin/runc)}
# crun (podman's default) fails here with "setrlimit RLIMIT_NOFILE: Operation not permitted"; runc with these
# limits works (../shared/notes/local-kubernetes.md). --network host: the build reaches PyPI and Debian's mirror.
podman=(podman --runtime "$PODMAN_RUNTIME")
limits=(--ulimit nofile=1024:1024 --ulimit nproc=1000:1000)

log() { echo "[images +${SECONDS}s] $*"; }

as_root() {
  if ((EUID == 0)); then
    "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo "$@"
  else
    echo "needs root (or passwordless sudo): $*" >&2
    return 1
  fi
}

tools() {
  declare -A package_of=([podman]=podman [buildah]=buildah [runc]=runc [debootstrap]=debootstrap)
  local missing=() tool
  for tool in podman buildah runc debootstrap; do
    command -v "$tool" >/dev/null || [[ -x /usr/sbin/$tool ]] || missing+=("${package_of[$tool]}")
  done
  ((${#missing[@]} == 0)) && return 0
  if ! command -v apt-get >/dev/null || ! { ((EUID == 0)) || { command -v sudo >/dev/null && sudo -n true 2>/dev/null; }; }; then
    echo "missing: ${missing[*]}; install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  log "installing ${missing[*]} from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  # With the recommended packages (conmon, netavark, slirp4netns, uidmap, fuse-overlayfs…): the set proven here.
  as_root apt-get install -y -qq "${missing[@]}" >/dev/null
  PODMAN_RUNTIME=$(command -v runc || echo /usr/sbin/runc)
  podman=(podman --runtime "$PODMAN_RUNTIME")
}

rootfs() {
  [[ -f $ROOTFS_TAR ]] && return 0
  mkdir -p "$CACHE"
  local dir
  dir=$(mktemp -d "$CACHE/rootfs.XXXXXX")
  log "debootstrap --variant=minbase $DEBIAN_RELEASE (python3, ca-certificates) from $DEBIAN_MIRROR"
  # shellcheck disable=SC2064 # expand now: the directory of this run
  trap "as_root rm -rf '$dir'" EXIT
  as_root debootstrap --variant=minbase --include=python3,ca-certificates "$DEBIAN_RELEASE" "$dir" "$DEBIAN_MIRROR" \
    >"$CACHE/debootstrap.log" 2>&1 || { tail -20 "$CACHE/debootstrap.log" >&2; exit 1; }
  # The package cache and lists are not needed in an image (the Dockerfile runs apt-get update itself).
  as_root rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
  as_root tar --numeric-owner -C "$dir" -cf "$ROOTFS_TAR.tmp" .
  mv "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
  as_root rm -rf "$dir"
  trap - EXIT
}

base() {
  if ! "${podman[@]}" image exists "$ROOTFS_IMAGE"; then
    rootfs
    log "podman import $ROOTFS_TAR → $ROOTFS_IMAGE"
    "${podman[@]}" import --change 'CMD ["/bin/bash"]' "$ROOTFS_TAR" "$ROOTFS_IMAGE" >/dev/null
  fi
  [[ -f $CA_BUNDLE ]] || { echo "CA_BUNDLE=$CA_BUNDLE does not exist (the CA bundle this host trusts)" >&2; exit 1; }
  local context
  context=$(mktemp -d)
  cp "$CA_BUNDLE" "$context/ca-certificates.crt"
  printf '%s\n' "FROM $ROOTFS_IMAGE" \
    "COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt" \
    "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" >"$context/Containerfile"
  log "base $BASE_IMAGE = $ROOTFS_IMAGE + the host's CA bundle ($CA_BUNDLE)"
  "${podman[@]}" build --quiet --network host -t "$BASE_IMAGE" "$context" >/dev/null
  rm -rf "$context"
}

uv_image() {
  [[ -x $UV_BIN ]] || { echo "no uv at UV_BIN=$UV_BIN (make uv installs it)" >&2; exit 1; }
  local context
  context=$(mktemp -d)
  cp "$UV_BIN" "$context/uv"
  printf '%s\n' "FROM scratch" "COPY uv /uv" >"$context/Containerfile"
  log "uv image $UV_IMAGE ($("$UV_BIN" --version))"
  "${podman[@]}" build --quiet -t "$UV_IMAGE" "$context" >/dev/null
  rm -rf "$context"
}

services() {
  local commit service started args
  commit=$(git rev-parse HEAD)
  for service in "${SERVICES[@]}"; do
    started=$SECONDS
    log "building localhost/zoomsymbl-$service:$IMAGE_TAG"
    args=(build --network host "${limits[@]}" -f deploy/docker/Dockerfile --label "$BUILT_BY"
      --build-arg SERVICE="$service" --build-arg PORT="${PORT[$service]}"
      --build-arg BASE_IMAGE="$BASE_IMAGE" --build-arg UV_IMAGE="$UV_IMAGE")
    # The build stage gets a tag of its own: its cached layers (the dependency installs) then survive `prune`.
    { "${podman[@]}" "${args[@]}" --target build -t "localhost/zoomsymbl-$service-build:$IMAGE_TAG" . &&
      "${podman[@]}" "${args[@]}" --build-arg ZOOMSYMBL_BUILD_COMMIT="$commit" \
        -t "localhost/zoomsymbl-$service:$IMAGE_TAG" .; } >"$CACHE/build-$service.log" 2>&1 ||
      { tail -30 "$CACHE/build-$service.log" >&2; echo "build of $service failed: $CACHE/build-$service.log" >&2; exit 1; }
    log "built $service in $((SECONDS - started)) s"
  done
}

prune() {
  # Untagged images of earlier builds (replaced images and build stages, with their layers): ~0.3-1.5 GB per
  # image and rebuild otherwise. The current images and build stages are tagged, so their cached layers stay.
  local removed
  removed=$("${podman[@]}" image prune --force --filter "label=$BUILT_BY" | wc -l)
  log "removed $removed untagged image(s) of earlier builds"
}

sizes() {
  local service
  for service in "${SERVICES[@]}"; do
    "${podman[@]}" image inspect --format "{{.Size}}" "localhost/zoomsymbl-$service:$IMAGE_TAG" 2>/dev/null |
      awk -v name="localhost/zoomsymbl-$service:$IMAGE_TAG" '{printf "%-40s %6.0f MB\n", name, $1 / 1e6}' ||
      echo "localhost/zoomsymbl-$service:$IMAGE_TAG  (not built)"
  done
}

mkdir -p "$CACHE"
case "${1:-build}" in
  build) tools; base; uv_image; services; prune; sizes ;;
  tools) tools ;;
  prune) prune ;;
  base) tools; base ;;
  sizes) sizes ;;
  *) sed -n '2,10p' "$0"; exit 2 ;;
esac
