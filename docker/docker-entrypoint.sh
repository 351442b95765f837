#!/bin/sh
# Entrypoint of the Aspen image. Arguments are `aspen` arguments (`docker run IMAGE kv get k`), except `start`
# (the default), which first gives the container a node:
#   - first start: DATA_DIR (/data) has no config.toml, so it is created with `aspen init` from the environment:
#     ASPEN_NODE_ID (required), ASPEN_COOKIE or ASPEN_COOKIE_FILE (else a new cookie is generated and printed
#     nowhere but config.toml), ASPEN_LISTEN, ASPEN_ANNOUNCE, ASPEN_BOOTSTRAP (comma-separated), ASPEN_RELAY,
#     ASPEN_PROFILE, ASPEN_HTTP, ASPEN_LOG_LEVEL, and ASPEN_COOLDOWN_S (safety.cooldown_s; read only here);
#   - every start, first or later: exec `aspen start`, which reads config.toml and lets the ASPEN_* variables
#     override it. A later start never re-initialises: the node keeps its identity, cookie and data.
# `exec` matters: aspen must be the process that gets SIGTERM (from docker-init when `init: true`).
set -eu

data=${ASPEN_DATA_DIR:-/data}
# Container defaults: listen on every interface (the container is the network boundary) and serve /healthz on a
# fixed port for the health check.
LISTEN_DEFAULT=/ip4/0.0.0.0/tcp/4001
HTTP_DEFAULT=0.0.0.0:8080

die () { echo "docker-entrypoint: $*" >&2; exit 2; }

# init_node: runs `aspen init` with flags taken from the environment. Its own positional parameters collect the
# flags (POSIX sh has no arrays), so the caller's arguments are untouched.
init_node () {
  set -- init --data-dir "$data" --node-id "$ASPEN_NODE_ID" --http "${ASPEN_HTTP:-$HTTP_DEFAULT}"
  for pair in "--listen=${ASPEN_LISTEN:-$LISTEN_DEFAULT}" "--announce=${ASPEN_ANNOUNCE:-}" "--bootstrap=${ASPEN_BOOTSTRAP:-}"; do
    flag=${pair%%=*}
    rest=${pair#*=},
    while [ -n "$rest" ]; do
      item=$(printf '%s' "${rest%%,*}" | tr -d ' \t')
      rest=${rest#*,}
      if [ -n "$item" ]; then set -- "$@" "$flag" "$item"; fi
    done
  done
  if [ -n "${ASPEN_PROFILE:-}" ]; then set -- "$@" --profile "$ASPEN_PROFILE"; fi
  if [ -n "${ASPEN_LOG_LEVEL:-}" ]; then set -- "$@" --log-level "$ASPEN_LOG_LEVEL"; fi
  if [ -n "${ASPEN_COOLDOWN_S:-}" ]; then set -- "$@" --cooldown "$ASPEN_COOLDOWN_S"; fi
  case "${ASPEN_RELAY:-}" in 1|true|yes|on) set -- "$@" --relay ;; esac
  aspen "$@"
}

if [ "$#" -eq 0 ]; then set -- start; fi
if [ "$1" != start ]; then exec aspen "$@"; fi
shift

if [ ! -f "$data/config.toml" ]; then
  [ -n "${ASPEN_NODE_ID:-}" ] || die "$data has no config.toml and ASPEN_NODE_ID is not set: set ASPEN_NODE_ID (and ASPEN_COOKIE) for the first start"
  mkdir -p "$data" 2>/dev/null || true
  [ -w "$data" ] || die "$data is not writable by uid $(id -u): give the volume to that user (chown $(id -u):$(id -g) DIR)"
  echo "docker-entrypoint: first start: creating node $ASPEN_NODE_ID in $data" >&2
  init_node
fi

# ASPEN_COOLDOWN_S was for `aspen init` only; aspen would warn about a variable it does not read.
unset ASPEN_COOLDOWN_S
exec aspen start --data-dir "$data" "$@"
