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
# Temporary folders go however the script ends: done, failed, or stopped (Ctrl-C, or 'up' stopping it on SIGINT/SIGTERM).
temp_dirs=()
trap 'rm -rf "${temp_dirs[@]}"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$root/scripts/ensure-host.sh" all
# One build at a time on this machine (parallel test processes and a user's `up` may all ask).
exec 9>/tmp/hakubelab-images.lock
flock 9
# Holding the lock, no other build runs: temporary folders still here are from a build that was killed.
rm -rf /var/tmp/hakubelab-rootfs.* /var/tmp/hakubelab-node.*

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

build_derived() { # build_derived NAME [CONTEXT_DIR [EXTRA_HASH]] -> hakubelab/NAME:<hash of base + inputs>
  local name=$1 ctx=${2:-$here/$1} extra=${3:-} tag
  tag="hakubelab/$name:$(printf '%s %s %s' "$base_tag" "$(hash_of "$here/$name")" "$extra" | sha256sum | cut -c1-12)"
  if ! image_exists "$tag"; then
    log "building $tag ..."
    local out
    if ! out=$(docker build -q --force-rm --build-arg "BASE=$base_tag" --label "io.hakubelab.inputs=$tag" -t "$tag" "$ctx" 2>&1); then
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

# --- Kubernetes: binaries built from Debian's source, control-plane images, the node's image tarball ---
# Images carry the runbook's imageRepository so its kubeadm config finds them as written, and each
# is tagged with the version it really is (pause 3.4 from this tree, etcd 3.4.23 from Debian);
# the lab's kubeadm config names those tags (etcd imageTag) where kubeadm 1.20's defaults differ.
# Versions and the default repository come from versions.env, the one place the library reads too;
# HAKUBELAB_IMAGE_REPOSITORY (a topology's kubernetes.imageRepository) overrides the repository.
# shellcheck source=versions.env
. "$here/versions.env"
image_repository=${HAKUBELAB_IMAGE_REPOSITORY:-$IMAGE_REPOSITORY}
etcd_tag=$ETCD_VERSION

controlplane_image() { # controlplane_image NAME TAG INPUTS_HASH DOCKERFILE CONTEXT [BUILD_ARGS...]
  local name=$1 tag=$2 inputs=$3 dockerfile=$4 ctx=$5; shift 5
  local ref="$image_repository/$name:$tag" have
  have=$(docker image inspect -f '{{index .Config.Labels "io.hakubelab.inputs"}}' "$ref" 2>/dev/null || true)
  if [ "$have" = "$inputs" ]; then log "$ref is cached"; return; fi
  log "building $ref ..."
  local out
  if ! out=$(docker build -q --force-rm -f "$dockerfile" --label "io.hakubelab.inputs=$inputs" "$@" -t "$ref" "$ctx" 2>&1); then
    printf '%s\n' "$out" >&2
    fail "docker build of $ref"
  fi
}

build_node() {
  local k8s version ctx cp_inputs pause_tag
  k8s=$("$root/scripts/kubernetes/build-binaries.sh") || fail "building Kubernetes from Debian's source package (scripts/kubernetes/build-binaries.sh)"
  version=$(cat "$k8s/VERSION")
  [ "$version" = "$KUBERNETES_VERSION" ] || fail "the Kubernetes build is $version, versions.env says $KUBERNETES_VERSION"
  # The pause binary says its own version ("pause.c v3.4-k8s-v1.20.2"): tag it with that.
  pause_tag=$("$k8s/bin/pause" -v 2>&1 | sed -n 's/^pause\.c v\([0-9][0-9.]*\).*/\1/p')
  [ -n "$pause_tag" ] || fail "cannot read the pause version from $k8s/bin/pause -v"
  cp_inputs=$(printf '%s %s %s %s' "$(basename "$k8s")" "$base_tag" "$(hash_of "$here/controlplane")" "$image_repository" | sha256sum | cut -c1-12)
  ctx=$(mktemp -d /var/tmp/hakubelab-node.XXXXXX)
  temp_dirs+=("$ctx")
  trap 'rm -rf "$ctx"' RETURN
  cp -a "$here/controlplane/." "$ctx/"
  cp "$k8s/bin/"* "$ctx/"
  for c in kube-apiserver kube-controller-manager kube-scheduler; do
    controlplane_image "$c" "$version" "$cp_inputs" "$ctx/Dockerfile.static" "$ctx" --build-arg "BIN=$c"
  done
  controlplane_image pause "$pause_tag" "$cp_inputs" "$ctx/Dockerfile.pause" "$ctx"
  controlplane_image etcd "$etcd_tag" "$cp_inputs" "$ctx/Dockerfile.closure" "$ctx" \
    --build-arg "BASE=$base_tag" --build-arg "FILES=/usr/bin/etcd /usr/bin/etcdctl"
  # kube-proxy needs iptables (nft backend, as the node's own iptables) and conntrack beside it.
  mkdir -p "$ctx/proxy" && cp "$ctx/collect-closure.sh" "$ctx/kube-proxy" "$ctx/proxy/"
  printf 'ARG BASE\nFROM ${BASE} AS tools\nCOPY collect-closure.sh kube-proxy /\nRUN install -D -m 0755 /kube-proxy /usr/local/bin/kube-proxy && bash /collect-closure.sh /out /usr/local/bin/kube-proxy /usr/sbin/conntrack /usr/sbin/xtables-nft-multi /usr/sbin/iptables /usr/sbin/iptables-save /usr/sbin/iptables-restore /usr/sbin/ip6tables /usr/sbin/ip6tables-save /usr/sbin/ip6tables-restore /usr/lib/x86_64-linux-gnu/xtables /etc/alternatives/iptables /etc/alternatives/ip6tables /etc/alternatives/iptables-save /etc/alternatives/iptables-restore /etc/alternatives/ip6tables-save /etc/alternatives/ip6tables-restore\nFROM scratch\nCOPY --from=tools /out/ /\nENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n' > "$ctx/proxy/Dockerfile"
  controlplane_image kube-proxy "$version" "$cp_inputs" "$ctx/proxy/Dockerfile" "$ctx/proxy" --build-arg "BASE=$base_tag"

  # A pod image for the lab's checks (cross-node pod traffic): Debian's static busybox, tagged with its version.
  local busybox_version
  busybox_version=$(docker run --rm "$base_tag" busybox 2>&1 | sed -n 's/^BusyBox v\([0-9.]*\).*/\1/p' | head -n 1)
  [ -n "$busybox_version" ] || fail "cannot read the busybox version from $base_tag"
  image_repository=hakubelab controlplane_image busybox "$busybox_version" "$cp_inputs" "$ctx/Dockerfile.closure" "$ctx" \
    --build-arg "BASE=$base_tag" --build-arg "FILES=/bin/busybox"

  # The node image: kubelet, kubeadm, kubectl, and the control-plane images as one tarball to preload.
  local node_ctx="$ctx/node" images=()
  cp -a "$here/node" "$node_ctx"
  mkdir -p "$node_ctx/kubernetes/bin" "$node_ctx/kubernetes/images"
  cp "$k8s/bin/kubeadm" "$k8s/bin/kubelet" "$k8s/bin/kubectl" "$node_ctx/kubernetes/bin/"
  for c in kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do images+=("$image_repository/$c:$version"); done
  images+=("$image_repository/pause:$pause_tag" "$image_repository/etcd:$etcd_tag" "hakubelab/busybox:$busybox_version")
  sed -i "s#@SANDBOX_IMAGE@#$image_repository/pause:$pause_tag#" "$node_ctx/containerd-config.toml"
  local ids; ids=$(docker image inspect -f '{{.Id}}' "${images[@]}" | sha256sum | cut -c1-16)
  echo "$ids" > "$node_ctx/kubernetes/images/images.sha256"
  printf '%s\n' "${images[@]}" > "$node_ctx/kubernetes/images/images.txt"
  local node_tag="hakubelab/node:$(printf '%s %s %s' "$base_tag" "$(hash_of "$here/node")" "$ids" | sha256sum | cut -c1-12)"
  if ! image_exists "$node_tag"; then
    log "saving control-plane images for the node (${#images[@]} images) ..."
    docker save -o "$node_ctx/kubernetes/images/control-plane.tar" "${images[@]}" || fail "docker save of the control-plane images"
  fi
  build_derived node "$node_ctx" "$ids"
  printf 'kubernetes=%s\nbusybox=%s\nimage_repository=%s\netcd=%s\n' "$version" "hakubelab/busybox:$busybox_version" "$image_repository" "$etcd_tag"
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
  node) build_node ;;
  all) build_derived haproxy; build_derived keepalived; build_node ;;
  *) fail "usage: $0 [lb|node|all]" ;;
esac
prune_stale hakubelab/debian "$base_tag"
