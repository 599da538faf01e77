#!/bin/bash
# keepalived calls this on every VRRP state change: notify TYPE NAME STATE PRIORITY.
# One machine-readable line on the container's log, so the lab can build a VIP-holder timeline.
printf 'HAKUBELAB-VRRP time=%s type=%s name=%s state=%s priority=%s\n' \
  "$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)" "${1:-}" "${2:-}" "${3:-}" "${4:-}" > /proc/1/fd/1
