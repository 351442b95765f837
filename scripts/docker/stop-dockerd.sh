#!/usr/bin/env bash
# Stops the dockerd started by start-dockerd.sh STATE_DIR and removes every trace of it: its containers (stopped
# by the daemon's own shutdown), the mounts it leaves under STATE_DIR, its network namespace and STATE_DIR itself
# (unless --keep). Safe to run twice, and on a half-started daemon.
#
#   scripts/docker/stop-dockerd.sh [--keep] STATE_DIR
set -uo pipefail

keep=0
if [ "${1:-}" = "--keep" ]; then keep=1; shift; fi
if [ "$#" -ne 1 ]; then echo "usage: $0 [--keep] STATE_DIR" >&2; exit 2; fi
[ -d "$1" ] || exit 0
dir=$(cd "$1" && pwd)

if [ -f "$dir/dockerd.pid" ]; then
  pid=$(cat "$dir/dockerd.pid")
  # Only signal the process if it still is the dockerd this state dir started.
  if kill -0 "$pid" 2>/dev/null && grep -q "$dir" "/proc/$pid/cmdline" 2>/dev/null; then
    kill -TERM "$pid"
    deadline=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null; fi
  fi
fi

# Left-overs of a daemon that died hard: its containerd and shims, found by the state dir on their command line.
# Only docker's own daemons are considered, never a shell or test runner that merely names the directory.
for p in $(pgrep -f -- "$dir/" 2>/dev/null); do
  exe=$(basename "$(readlink "/proc/$p/exe" 2>/dev/null)" 2>/dev/null)
  case "$exe" in
    dockerd|containerd|containerd-shim*) kill -KILL "$p" 2>/dev/null ;;
  esac
done

# Unmount everything under the state dir, deepest first (overlay mounts, netns bind mounts, shm).
awk -v d="$dir" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r m; do
  umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
done

if [ -f "$dir/netns" ]; then
  ns=$(cat "$dir/netns")
  [ -n "$ns" ] && [ -e "/run/netns/$ns" ] && ip netns delete "$ns" 2>/dev/null
fi
if [ "$keep" -eq 0 ]; then rm -rf "$dir"; fi
exit 0
