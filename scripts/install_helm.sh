#!/usr/bin/env bash
# Build helm from the Go module proxy into .cache/bin/helm (no prebuilt binary can be downloaded here).
# Built like helm's own release (version string set through -ldflags, so `helm version` and
# `helm install --dry-run=client` behave as with an official binary).
# Idempotent: a helm already built this way from the pinned version is kept. A cold build takes about
# 4 minutes on 2 cores (module downloads included), a warm one about 20 s.
# Environment: HELM_VERSION (default v4.3.2; v3.x.y builds Helm 3 from helm.sh/helm/v3, e.g. v3.21.4),
# HELM_BIN_DIR (default .cache/bin).
set -euo pipefail
cd "$(dirname "$0")/.."

version="${HELM_VERSION:-v4.3.2}"
bin_dir="${HELM_BIN_DIR:-$PWD/.cache/bin}"
helm="$bin_dir/helm"

if [[ -x "$helm" && "$("$helm" version --template '{{.Version}}' 2>/dev/null)" == "$version" ]]; then
  echo "helm $version already at $helm"
  exit 0
fi

command -v go >/dev/null || { echo "building helm needs Go 1.26 or newer on PATH" >&2; exit 1; }
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

major="${version%%.*}"   # v3 or v4: the module path carries it
module="helm.sh/helm/$major"
case "$major" in
  v4)
    # Helm 4 reads its default Kubernetes version from the client-go in its build info: only the version.
    ldflags="-s -w -X $module/internal/version.version=$version -X $module/internal/version.gitTreeState=clean"
    ;;
  v3)
    # Helm 3's Makefile derives the default Kubernetes version from the client-go it is built with.
    gomod="$(timeout 600 go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
    client_go="$(awk '$1 == "k8s.io/client-go" {print $2; exit}' "$gomod")"   # e.g. v0.37.0
    k8s_minor="$(cut -d. -f2 <<<"$client_go")"
    [[ "$k8s_minor" =~ ^[0-9]+$ ]] || { echo "cannot read client-go's version from $gomod" >&2; exit 1; }
    ldflags="-s -w -X $module/internal/version.version=$version"
    for pkg in chartutil lint/rules; do
      ldflags+=" -X $module/pkg/$pkg.k8sVersionMajor=1 -X $module/pkg/$pkg.k8sVersionMinor=$k8s_minor"
    done
    ;;
  *) echo "HELM_VERSION must look like v4.3.2 or v3.21.4, not ${version@Q}" >&2; exit 1 ;;
esac

mkdir -p "$bin_dir"
# Build into a private folder and move into place, so a concurrent reader never sees a half-written file.
staging="$(mktemp -d "$bin_dir/.helm-build.XXXXXX")"
trap 'rm -rf "$staging"' EXIT
echo "building helm $version from the Go module proxy"
CGO_ENABLED=0 GOBIN="$staging" timeout 1800 go install -trimpath -ldflags "$ldflags" "$module/cmd/helm@$version"
mv -f "$staging/helm" "$helm"
echo "helm $("$helm" version --short) built at $helm"
