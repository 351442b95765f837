#!/usr/bin/env bash
# Installs the Debian packages the test suites use (network namespaces + nftables for NAT tests).
# Idempotent and quiet when everything is already there; needs root (CI and dev machines run as root).
set -euo pipefail
need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v nft >/dev/null 2>&1 || need+=(nftables)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: ${need[*]} (not root: NAT tests will be skipped)" >&2
    exit 0
  fi
  echo "installing: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
