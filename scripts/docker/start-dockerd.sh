#!/usr/bin/env bash
# Starts a private dockerd for the demos and tests, in its own network namespace, with its data root, exec root
# and socket under STATE_DIR, so it touches nothing of the host's networking (bridges, NAT and firewall rules all
# live in the namespace and vanish with it) and no other dockerd.
#
#   scripts/docker/start-dockerd.sh STATE_DIR       # prints: export DOCKER_HOST=unix://STATE_DIR/docker.sock
#   eval "$(scripts/docker/start-dockerd.sh /tmp/aspen-dk)"
#   scripts/docker/stop-dockerd.sh /tmp/aspen-dk    # stops it and removes every trace
#
# Writes STATE_DIR/netns (namespace name), STATE_DIR/dockerd.pid, STATE_DIR/dockerd.log, STATE_DIR/docker.sock.
# Exit codes: 0 running, 1 failed to start (the log tail is printed), 2 usage, 3 cannot run here (not root or
# dockerd missing: run scripts/docker/install-docker.sh).
set -euo pipefail

if [ "$#" -ne 1 ]; then echo "usage: $0 STATE_DIR" >&2; exit 2; fi
if [ "$(id -u)" -ne 0 ]; then echo "start-dockerd: needs root (network namespaces)" >&2; exit 3; fi
command -v dockerd >/dev/null 2>&1 || { echo "start-dockerd: dockerd not installed (run scripts/docker/install-docker.sh)" >&2; exit 3; }

mkdir -p "$1"
dir=$(cd "$1" && pwd)
sock="$dir/docker.sock"
export DOCKER_HOST="unix://$sock"

if [ -f "$dir/dockerd.pid" ] && kill -0 "$(cat "$dir/dockerd.pid")" 2>/dev/null; then
  echo "export DOCKER_HOST=$DOCKER_HOST"
  exit 0
fi

# Namespace names are global: derive one from the state dir so parallel runs do not collide.
ns="aspen-dk-$(printf '%s' "$dir" | cksum | cut -d' ' -f1)"
if [ ! -e "/run/netns/$ns" ]; then
  ip netns add "$ns"
fi
ip -n "$ns" link set lo up
echo "$ns" > "$dir/netns"

# dockerd starts its own containerd; --shutdown-timeout bounds how long a stop waits for containers.
# setsid: the daemon must not share the caller's process group, so a test runner's signals reach it only via
# stop-dockerd.sh.
setsid nsenter --net="/run/netns/$ns" dockerd \
  --data-root "$dir/root" --exec-root "$dir/exec" -H "unix://$sock" --pidfile "$dir/dockerd.pid" \
  --shutdown-timeout 5 --log-level warn >"$dir/dockerd.log" 2>&1 </dev/null &

deadline=$((SECONDS + 60))
until docker version >/dev/null 2>&1; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "start-dockerd: dockerd did not answer on $sock within 60 s; log tail:" >&2
    tail -n 20 "$dir/dockerd.log" >&2 || true
    exit 1
  fi
  sleep 0.2
done
echo "export DOCKER_HOST=$DOCKER_HOST"
