#!/bin/bash
# Prepares a kind-style node container for systemd and the kubelet, then execs the init.
set -euo pipefail
# Mounts made inside (by containerd, the kubelet) must propagate, as on a real host.
mount --make-rshared /
# Docker mounts /sys and the cgroup hierarchies read-only unless the container is --privileged.
if grep -qE '^[^ ]+ /sys sysfs ro[ ,]' /proc/self/mounts; then mount -o remount,rw /sys; fi
# A plain remount of a cgroup mount says "busy"; a bind remount works.
awk '$2 ~ "^/sys/fs/cgroup/" && $4 ~ "(^|,)ro(,|$)" {print $2}' /proc/self/mounts | while read -r m; do
  mount -o remount,bind,rw "$m" 2>/dev/null || echo "hakubelab-node: could not remount $m read-write" >&2
done
# The kubelet writes some sysctls that are host-wide, not per network namespace (FACTS: overcommit,
# panic, keys). A file bind-mounted over each entry takes the write; the host keeps its value.
mkdir -p /run/hakubelab/sysctl
for s in vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys kernel/keys/root_maxbytes; do
  [ -e "/proc/sys/$s" ] || continue
  f="/run/hakubelab/sysctl/${s//\//.}"
  cat "/proc/sys/$s" > "$f"
  mount --bind "$f" "/proc/sys/$s"
done
# SSH host keys are made per node at first start, never baked into the image.
ls /etc/ssh/ssh_host_*_key >/dev/null 2>&1 || ssh-keygen -A >/dev/null
exec "$@"
