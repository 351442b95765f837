#!/usr/bin/env bash
# Installs what the Docker demos and their tests need, from Debian: docker.io (dockerd 20.10, containerd),
# docker-compose (v1), iptables and nftables (dockerd's and the NAT routers' firewall), debootstrap (the local
# base images) and iproute2 (network namespaces). Idempotent and quiet when everything is already there.
# Exit codes: 0 installed or already there, 3 missing and cannot be installed here (not root, or apt failed);
# callers treat 3 as "docker cannot run here" and say why.
#
#   scripts/docker/install-docker.sh                  everything the demos and tests need
#   scripts/docker/install-docker.sh --compose-only   just docker-compose (to validate compose files)
set -euo pipefail

need=()
have () { command -v "$1" >/dev/null 2>&1; }
have docker-compose || need+=(docker-compose)
if [ "${1:-}" != "--compose-only" ]; then
  # A static docker CLI may sit first on PATH; the daemon is what Debian's docker.io brings.
  have dockerd || need+=(docker.io)
  have iptables || need+=(iptables)
  have nft || need+=(nftables)
  have debootstrap || need+=(debootstrap)
  have ip || need+=(iproute2)
fi
[ "${#need[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-docker: missing ${need[*]} and not root, so they cannot be installed here" >&2
  exit 3
fi
echo "install-docker: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }; then
  echo "install-docker: apt-get install ${need[*]} failed" >&2
  exit 3
fi
