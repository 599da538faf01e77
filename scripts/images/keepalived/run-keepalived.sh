#!/bin/bash
# A restarted container keeps /run; a stale pid file naming PID 1 (ourselves) makes keepalived refuse to start.
rm -f /run/keepalived*.pid /var/run/keepalived*.pid
exec /usr/sbin/keepalived --dont-fork --log-console --log-detail --vrrp \
  --use-file /container/service/keepalived/assets/keepalived.conf "$@"
