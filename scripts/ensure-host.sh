#!/usr/bin/env bash
# Makes this machine able to run the lab: a Docker engine that answers, and the host tools the
# image builds use (debootstrap, rsync, Debian's Go for the Kubernetes build). Idempotent; safe to
# run on every invocation. Installs only from the package sources the machine already has.
set -euo pipefail

log() { printf '[ensure-host] %s\n' "$*" >&2; }

need_root_debian() {
  if [ "$(id -u)" != 0 ] || [ ! -f /etc/debian_version ]; then
    log "missing: $1. Install it (Debian: apt-get install -y $2) and run again."
    exit 1
  fi
}

apt_updated=0
apt_install() {
  # apt-get update only once per run, and only when something is missing.
  if [ "$apt_updated" = 0 ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    apt_updated=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_pkg() { # ensure_pkg COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 && return 0
  need_root_debian "$1" "$2"
  apt_install "$2"
}

# libpcap for the chaos runner's packet capture on the lab's bridge (SharpPcap loads libpcap.so.0.8 / libpcap.so.1).
# Without it a chaos run says so and measures with probes only.
ensure_libpcap() {
  if ldconfig -p 2>/dev/null | grep -qE 'libpcap\.so(\.0\.8|\.1)? '; then return 0; fi
  [ -e /usr/lib/x86_64-linux-gnu/libpcap.so.0.8 ] || [ -e /usr/lib/aarch64-linux-gnu/libpcap.so.0.8 ] && return 0
  need_root_debian "libpcap (packet capture for the chaos runner)" "libpcap0.8"
  apt_install libpcap0.8
}

docker_answers() { timeout 10 docker version >/dev/null 2>&1; }

ensure_docker() {
  if docker_answers; then return 0; fi
  if ! command -v dockerd >/dev/null 2>&1; then
    need_root_debian "a Docker engine (dockerd)" "docker.io"
    apt_install docker.io
  fi
  if docker_answers; then return 0; fi
  need_root_debian "a running Docker engine" "docker.io"
  log "starting dockerd (log: /var/log/dockerd.log)"
  # No service manager in containers/sandboxes: start the engine ourselves, detached from this shell.
  nohup setsid dockerd >/var/log/dockerd.log 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    docker_answers && { log "dockerd is up"; return 0; }
    sleep 1
  done
  log "dockerd did not answer within 60 s; last log lines:"
  tail -n 20 /var/log/dockerd.log >&2 || true
  exit 1
}

# Every node runs systemd, containerd and a kubelet, each holding inotify instances; the kernel's default of 128
# per user is used up by a few Kubernetes labs (new nodes then exit 255 at start with an empty log). kind
# recommends 512; raise it when lower (a host-wide setting: say so), never lower it.
ensure_inotify() {
  local now
  now=$(cat /proc/sys/fs/inotify/max_user_instances 2>/dev/null || echo 512)
  if [ "$now" -lt 512 ] && [ "$(id -u)" = 0 ]; then
    if echo 512 > /proc/sys/fs/inotify/max_user_instances 2>/dev/null; then
      log "raised fs.inotify.max_user_instances from $now to 512 (several kind-style nodes need more than the default)"
    else
      log "fs.inotify.max_user_instances is $now; several Kubernetes labs at once need 512 (sysctl -w fs.inotify.max_user_instances=512)"
    fi
  fi
}

# Compose: `docker compose` (v2 plugin) where a user has it, else Debian's docker-compose 1.29 (v1).
# docker-compose.lab.yml works with both; Debian's docker.io ships no compose plugin.
ensure_compose() {
  docker compose version >/dev/null 2>&1 && return 0
  command -v docker-compose >/dev/null 2>&1 && return 0
  need_root_debian "docker-compose (or the docker compose plugin)" "docker-compose"
  apt_install docker-compose
}

case "${1:-all}" in
  docker) ensure_docker; ensure_inotify; ensure_libpcap ;;
  capture) ensure_libpcap ;;
  compose) ensure_docker; ensure_compose ;;
  build-tools)
    ensure_pkg debootstrap debootstrap
    ensure_pkg rsync rsync
    ;;
  kubernetes-tools)
    ensure_pkg go golang-go
    ensure_pkg rsync rsync
    ensure_pkg dpkg-source dpkg-dev
    ensure_pkg gcc gcc
    ;;
  browser)
    # Debian's Chromium for the dashboard's real-browser test (Playwright drives it by path; its own download cannot work offline).
    ensure_pkg chromium chromium
    ;;
  all)
    ensure_docker
    ensure_inotify
    ensure_libpcap
    ensure_pkg debootstrap debootstrap
    ensure_pkg rsync rsync
    ;;
  *) log "usage: $0 [docker|compose|build-tools|kubernetes-tools|browser|capture|all]"; exit 2 ;;
esac
