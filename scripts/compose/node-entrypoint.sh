#!/bin/bash
# Entrypoint of a compose lab's node: does what `docker run --security-opt systempaths=unconfined` does
# (a docker CLI option that the engine, and so docker-compose v1, cannot pass), then runs the node
# image's own entrypoint. The engine masks some /proc and /sys paths and makes others read-only; the
# kubelet and kube-proxy write /proc/sys (net.*, vm.*, kernel.*), so it must be writable, as in `./hakubelab up`.
set -euo pipefail
# Masked paths: files hidden under /dev/null, folders under an empty read-only tmpfs.
for p in /proc/asound /proc/acpi /proc/kcore /proc/keys /proc/latency_stats /proc/timer_list /proc/timer_stats \
         /proc/sched_debug /proc/scsi /sys/firmware; do
  if awk -v p="$p" '$2 == p {found=1} END {exit !found}' /proc/self/mounts; then umount "$p" 2>/dev/null || umount -l "$p" || true; fi
done
# Read-only paths: bind mounts of themselves remounted read-only; a bind remount makes them writable again.
for p in /proc/bus /proc/fs /proc/irq /proc/sys /proc/sysrq-trigger; do
  if awk -v p="$p" '$2 == p {found=1} END {exit !found}' /proc/self/mounts; then mount -o remount,bind,rw "$p" 2>/dev/null || umount -l "$p" || true; fi
done
exec /usr/local/bin/hakubelab-node-entrypoint "$@"
