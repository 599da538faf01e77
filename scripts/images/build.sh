#!/usr/bin/env bash
# Builds the lab's images locally (nothing can be pulled) and prints one line per image:
#   base=hakubelab/debian:<hash>  haproxy=...  keepalived=...  node=...
# Each tag is the hash of its inputs, so an image is rebuilt only when an input changes; an existing
# tag is reused in well under a second. Progress goes to stderr; only the tags go to stdout.
# Usage: scripts/images/build.sh [lb|node|all]   (lb = base, haproxy, keepalived)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
what=${1:-all}
export DOCKER_BUILDKIT=0   # the legacy builder is what Docker 20.10 from Debian has without buildx
start=$SECONDS
log() { printf '[images %02d:%02d] %s\n' $(((SECONDS-start)/60)) $(((SECONDS-start)%60)) "$*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

"$root/scripts/ensure-host.sh" all
# One build at a time on this machine (parallel test processes and a user's `up` may all ask).
exec 9>/tmp/hakubelab-images.lock
flock 9

hash_of() { # hash_of FILE_OR_DIR... -> 12 hex chars over file names and contents
  (for p in "$@"; do
     if [ -d "$p" ]; then find "$p" -type f -print0 | sort -z | xargs -0 sha256sum | sed "s#  $here/#  #"
     else sha256sum "$p" | sed "s#  $here/#  #"; fi
   done) | sha256sum | cut -c1-12
}
image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

packages=$(grep -vE '^\s*(#|$)' "$here/base-packages.txt" | paste -sd, -)

build_base() {
  if image_exists "$base_tag"; then log "base $base_tag is cached"; return; fi
  command -v debootstrap >/dev/null || fail "debootstrap is missing (scripts/ensure-host.sh installs it)"
  local mirror work
  mirror=$("$root/scripts/lib/debian-mirror.sh") || fail "reading the Debian mirror from apt's configuration"
  work=$(mktemp -d /var/tmp/hakubelab-rootfs.XXXXXX)
  trap 'rm -rf "$work"' RETURN
  log "debootstrap bookworm from $mirror (about 1-3 minutes) ..."
  if ! debootstrap --variant=minbase --include="$packages" bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1; then
    tail -n 30 "$work/debootstrap.log" >&2
    fail "debootstrap (see the lines above; full log was $work/debootstrap.log)"
  fi
  # Keep the image small and free of host-specific state.
  rm -rf "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/var/cache/apt/"*.bin "$work/rootfs/var/cache/apt/archives/"*.deb
  : > "$work/rootfs/etc/machine-id"
  log "importing rootfs as $base_tag ..."
  # Import under a temporary name and tag only when complete: a half-built image is never tagged as good.
  local tmp="hakubelab/debian:partial-$$"
  tar -C "$work/rootfs" -c . | docker import --change 'CMD ["/bin/bash"]' - "$tmp" >/dev/null || fail "docker import"
  docker tag "$tmp" "$base_tag" && docker rmi "$tmp" >/dev/null
  log "base $base_tag built"
}

# The base is keyed by its package list and its own recipe (this function's text), not by the rest of this script.
base_tag="hakubelab/debian:$( (declare -f build_base; cat "$here/base-packages.txt") | sha256sum | cut -c1-12)"

build_derived() { # build_derived NAME -> hakubelab/NAME:<hash of base + dir>
  local name=$1 tag
  tag="hakubelab/$name:$(printf '%s %s' "$base_tag" "$(hash_of "$here/$name")" | sha256sum | cut -c1-12)"
  if ! image_exists "$tag"; then
    log "building $tag ..."
    local out
    if ! out=$(docker build -q --build-arg "BASE=$base_tag" --label "io.hakubelab.inputs=$tag" -t "$tag" "$here/$name" 2>&1); then
      printf '%s\n' "$out" >&2
      fail "docker build of $name"
    fi
    log "$name $tag built"
  else
    log "$name $tag is cached"
  fi
  printf '%s=%s\n' "$name" "$tag"
  prune_stale "hakubelab/$name" "$tag"
}

# Old tags of a repository are images whose inputs changed; drop them unless a container still uses them.
prune_stale() { # prune_stale REPO CURRENT_TAG
  { docker image ls --format '{{.Repository}}:{{.Tag}}' "$1" | grep -vxF "$2" || true; } | while read -r old; do
    docker image rm "$old" >/dev/null 2>&1 && log "removed stale $old" || true
  done
}

build_base
printf 'base=%s\n' "$base_tag"
case "$what" in
  lb) build_derived haproxy; build_derived keepalived ;;
  node) build_derived node ;;
  all) build_derived haproxy; build_derived keepalived; build_derived node ;;
  *) fail "usage: $0 [lb|node|all]" ;;
esac
prune_stale hakubelab/debian "$base_tag"
