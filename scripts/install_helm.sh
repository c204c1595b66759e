#!/usr/bin/env bash
# Build helm from the Go module proxy into .cache/bin/helm (no prebuilt binary can be downloaded here).
# Built like helm's own release (version string and default Kubernetes version set through -ldflags, so
# `helm install --dry-run=client` and `helm version` behave as with an official binary).
# Idempotent: a helm already built this way from the pinned version is kept. A cold build takes about
# 4 minutes on 2 cores (module downloads included), a warm one about 20 s.
# Environment: HELM_VERSION (default v3.22.0), HELM_BIN_DIR (default .cache/bin).
set -euo pipefail
cd "$(dirname "$0")/.."

version="${HELM_VERSION:-v3.22.0}"
bin_dir="${HELM_BIN_DIR:-$PWD/.cache/bin}"
helm="$bin_dir/helm"

if [[ -x "$helm" && "$("$helm" version --template '{{.Version}}' 2>/dev/null)" == "$version" ]]; then
  echo "helm $version already at $helm"
  exit 0
fi

command -v go >/dev/null || { echo "building helm needs Go 1.24 or newer on PATH" >&2; exit 1; }
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

# helm's Makefile derives the default Kubernetes version from the client-go it is built with.
gomod="$(timeout 600 go mod download -json "helm.sh/helm/v3@$version" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
client_go="$(awk '$1 == "k8s.io/client-go" {print $2; exit}' "$gomod")"   # e.g. v0.37.0
k8s_minor="$(cut -d. -f2 <<<"$client_go")"
[[ "$k8s_minor" =~ ^[0-9]+$ ]] || { echo "cannot read client-go's version from $gomod" >&2; exit 1; }

ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$version"
for pkg in chartutil lint/rules; do
  ldflags+=" -X helm.sh/helm/v3/pkg/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/$pkg.k8sVersionMinor=$k8s_minor"
done

mkdir -p "$bin_dir"
# Build into a private folder and move into place, so a concurrent reader never sees a half-written file.
staging="$(mktemp -d "$bin_dir/.helm-build.XXXXXX")"
trap 'rm -rf "$staging"' EXIT
echo "building helm $version (Kubernetes 1.$k8s_minor client) from the Go module proxy"
GOBIN="$staging" timeout 1800 go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$version"
mv -f "$staging/helm" "$helm"
echo "helm $("$helm" version --short) built at $helm"
