#!/usr/bin/env bash
# Installs the Debian packages the test suites use: network namespaces + nftables for the NAT tests, and FUSE with
# Debian's python3-fusepy for the power-loss tests (scripts/fault/lazyfs.py runs under /usr/bin/python3).
# Idempotent and quiet when everything is already there; needs root (CI and dev machines run as root).
set -euo pipefail
need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v fusermount3 >/dev/null 2>&1 || need+=(fuse3)
if [ -x /usr/bin/python3 ]; then
  /usr/bin/python3 -c 'import fusepy' >/dev/null 2>&1 || need+=(python3-fusepy)
else
  need+=(python3 python3-fusepy)
fi
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: ${need[*]} (not root: NAT and power-loss tests will be skipped)" >&2
    exit 0
  fi
  echo "installing: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
