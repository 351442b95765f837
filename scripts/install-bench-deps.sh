#!/bin/sh
# Installs what `npm run bench -- --compare etcd` needs besides node_modules: Debian's etcd server and client.
# Idempotent: does nothing when `etcd` and `etcdctl` are already on PATH. Needs root (or sudo) for apt-get.
set -eu
if command -v etcd >/dev/null 2>&1 && command -v etcdctl >/dev/null 2>&1; then
  exit 0
fi
SUDO=''
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO='sudo'; else
    echo "install-bench-deps: etcd is missing and this is not root; install etcd-server and etcd-client yourself" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends etcd-server etcd-client >/dev/null
# Debian's package enables a system etcd on 127.0.0.1:2379/2380; the benchmark runs its own members on other
# ports, but stop the service so it does not compete for the two cores.
if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now etcd >/dev/null 2>&1 || true; fi
if command -v service >/dev/null 2>&1; then $SUDO service etcd stop >/dev/null 2>&1 || true; fi
command -v etcd >/dev/null 2>&1 || { echo "install-bench-deps: etcd still not on PATH after apt-get" >&2; exit 1; }
