#!/usr/bin/env bash
# Jaeger, a trace backend that Grafana reads with its Jaeger data source (deploy/grafana/jaeger-datasource.yaml).
#
#   scripts/jaeger.sh build    go build of github.com/jaegertracing/jaeger/cmd/jaeger v1.75.0 (a tool of the
#                              module infra/jaeger) into .cache/jaeger/bin (cached)
#   scripts/jaeger.sh up       start it on loopback with infra/jaeger/config.yaml (traces in memory)
#   scripts/jaeger.sh down     stop exactly the process `up` started (its PID is in $JAEGER_RUN_DIR/pid)
#   scripts/jaeger.sh status   "up <pid>" (exit 0) or "down" (exit 3)
#
# Ports (environment): JAEGER_OTLP_HTTP_PORT 14318, JAEGER_OTLP_GRPC_PORT 14317, JAEGER_QUERY_PORT 16686,
# JAEGER_QUERY_GRPC_PORT 16685, JAEGER_HEALTH_PORT 13133; all bound to 127.0.0.1. JAEGER_RUN_DIR (default
# .cache/jaeger/run) holds the PID and the log: a test gives its Jaeger its own folder and ports, so it neither
# meets nor stops the one `make demo JAEGER=1` runs.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
JAEGER_VERSION=v1.75.0
dir="$root/.cache/jaeger"
binary="$dir/bin/jaeger"
run="${JAEGER_RUN_DIR:-$dir/run}"
export JAEGER_OTLP_HTTP_PORT="${JAEGER_OTLP_HTTP_PORT:-14318}" JAEGER_OTLP_GRPC_PORT="${JAEGER_OTLP_GRPC_PORT:-14317}"
export JAEGER_QUERY_PORT="${JAEGER_QUERY_PORT:-16686}" JAEGER_QUERY_GRPC_PORT="${JAEGER_QUERY_GRPC_PORT:-16685}"
export JAEGER_HEALTH_PORT="${JAEGER_HEALTH_PORT:-13133}"

log() { printf '[jaeger %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

stamp() { { echo "$JAEGER_VERSION $(go env GOVERSION)"; cat "$root/infra/jaeger/go.mod" "$root/infra/jaeger/go.sum"; } | sha256sum | cut -d' ' -f1; }

cmd_build() {
  command -v go >/dev/null || die "building Jaeger needs Go 1.26 or newer on PATH"
  local want started=$SECONDS
  want="$(stamp)"
  if [[ -x "$binary" && -f "$dir/bin/.stamp" && "$(cat "$dir/bin/.stamp")" == "$want" ]]; then
    log "jaeger $JAEGER_VERSION already built at $binary"; return 0
  fi
  mkdir -p "$dir/bin"
  log "building jaeger $JAEGER_VERSION from the Go module proxy"
  local v=github.com/jaegertracing/jaeger/internal/version
  (cd "$root/infra/jaeger" && CGO_ENABLED=0 GOFLAGS="${GOFLAGS:--buildvcs=false}" timeout 2400 go build -trimpath \
    -ldflags "-s -w -X $v.latestVersion=$JAEGER_VERSION" -o "$binary.tmp" github.com/jaegertracing/jaeger/cmd/jaeger)
  mv -f "$binary.tmp" "$binary"
  echo "$want" >"$dir/bin/.stamp"
  log "built in $((SECONDS - started)) s: $(du -h "$binary" | cut -f1)"
}

alive() { { tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null | grep -q -- "$binary"; }

cmd_down() {
  [[ -f "$run/pid" ]] || { log "nothing to stop"; return 0; }
  local pid waited
  pid="$(cat "$run/pid")"
  if alive "$pid"; then
    kill -TERM "$pid"
    for ((waited = 0; waited < 100; waited++)); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then log "jaeger ($pid) ignored SIGTERM for 10 s: SIGKILL"; kill -KILL "$pid" || true; fi
    log "stopped jaeger ($pid)"
  fi
  rm -f "$run/pid"
}

taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

cmd_status() {
  if [[ -f "$run/pid" ]] && alive "$(cat "$run/pid")"; then echo "up $(cat "$run/pid")"; else echo "down"; return 3; fi
}

cmd_up() {
  [[ -x "$binary" ]] || die "$binary missing: run scripts/jaeger.sh build"
  if [[ -f "$run/pid" ]] && alive "$(cat "$run/pid")"; then die "already running (pid $(cat "$run/pid"))"; fi
  # Another Jaeger (or anything) on a port would answer the readiness probe below in place of ours.
  local port
  for port in "$JAEGER_OTLP_HTTP_PORT" "$JAEGER_OTLP_GRPC_PORT" "$JAEGER_QUERY_PORT" "$JAEGER_QUERY_GRPC_PORT" \
    "$JAEGER_HEALTH_PORT"; do
    if taken "$port"; then die "port 127.0.0.1:$port is taken"; fi
  done
  mkdir -p "$run"
  "$binary" --config "$root/infra/jaeger/config.yaml" >"$run/jaeger.log" 2>&1 </dev/null &
  echo $! >"$run/pid"
  local deadline=$((SECONDS + 60))
  until curl -fsS "http://127.0.0.1:$JAEGER_QUERY_PORT/api/services" >/dev/null 2>&1; do
    if ((SECONDS > deadline)) || ! alive "$(cat "$run/pid")"; then
      cmd_down; die "not ready within 60 s; log: $run/jaeger.log"
    fi
    sleep 0.2
  done
  log "up: OTLP http://127.0.0.1:$JAEGER_OTLP_HTTP_PORT, query API http://127.0.0.1:$JAEGER_QUERY_PORT (no UI: a go build lacks its assets)"
}

case "${1:-}" in
  build) cmd_build ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) echo "usage: scripts/jaeger.sh build|up|down|status" >&2; exit 2 ;;
esac
