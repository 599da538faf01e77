#!/usr/bin/env bash
# The runbook's own commands, typed as a person would, with no HaKubeLab code in the loop: the bench's
# baseline for "what does the lab itself add". `docker network create`, `docker run` of each node
# (kind-style, the same flags `./hakubelab up` uses), then on each node the runbook's
#   docker run -d --name=...-haproxy --net=host --restart=always -v /etc/haproxy:/usr/local/etc/haproxy:ro haproxy
#   docker run --cap-add=NET_ADMIN --cap-add=NET_BROADCAST --cap-add=NET_RAW --net=host --restart=always \
#     --volume /etc/keepalived/keepalived.conf:/container/service/keepalived/assets/keepalived.conf -d keepalived
# with --net=host read as the node's network namespace (--net=container:NODE), then kubeadm init and the
# joins (scripts/compose-bootstrap.sh: the same commands over docker exec).
# Prints "phase <name> <milliseconds>" lines on stdout.
#
#   scripts/runbook-plain.sh up   --lab NAME --subnet A.B.C.0/24 [--no-kubernetes]
#   scripts/runbook-plain.sh down --lab NAME
# Images, addresses and rendered files come from scripts/compose-lab.sh env (not timed here).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cmd=${1:-}; [ $# -gt 0 ] && shift
lab=""; subnet=""; kubernetes=1
while [ $# -gt 0 ]; do
  case "$1" in
    --lab) lab=$2; shift 2 ;;
    --subnet) subnet=$2; shift 2 ;;
    --no-kubernetes) kubernetes=0; shift ;;
    *) echo "usage: $0 up|down --lab NAME [--subnet A.B.C.0/24] [--no-kubernetes]" >&2; exit 2 ;;
  esac
done
[ -n "$lab" ] || { echo "--lab is required (never the lead's 'hakubelab')" >&2; exit 2; }
log() { printf '[plain %s] %s\n' "$lab" "$*" >&2; }
fail() { log "error: $*"; exit 1; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

if [ "$cmd" = down ]; then
  ids=$(docker ps -aq --filter "label=io.hakubelab.lab=$lab"); [ -z "$ids" ] || docker rm -f -v $ids >/dev/null
  ids=$(docker network ls -q --filter "label=io.hakubelab.lab=$lab"); [ -z "$ids" ] || docker network rm $ids >/dev/null
  ids=$(docker volume ls -q --filter "label=io.hakubelab.lab=$lab"); [ -z "$ids" ] || docker volume rm -f $ids >/dev/null
  state=${HAKUBELAB_STATE:-${XDG_STATE_HOME:-$HOME/.local/state}/hakubelab}; rm -rf "$state/labs/$lab"
  exit 0
fi
[ "$cmd" = up ] || fail "usage: $0 up|down --lab NAME --subnet A.B.C.0/24"
[ -n "$subnet" ] || fail "--subnet is required"

env_file=$("$root/scripts/compose-lab.sh" env --lab "$lab" --subnet "$subnet")
set -a; . "$env_file"; set +a
L=(--label "io.hakubelab.lab=$lab")
t0=$(now_ms)
docker network create --subnet "$HAKUBELAB_SUBNET" --gateway "$HAKUBELAB_GATEWAY" "${L[@]}" --label io.hakubelab.role=network \
  --label "io.hakubelab.subnet=$HAKUBELAB_SUBNET" --label "io.hakubelab.vip=$HAKUBELAB_VIP" --label "io.hakubelab.lb-port=$HAKUBELAB_LB_PORT" \
  --label "io.hakubelab.apiserver-port=$HAKUBELAB_APISERVER_PORT" "$lab" >/dev/null
if [ "$HAKUBELAB_NODE_PRIVILEGED" = true ]; then powers=(--privileged); else
  powers=(--cap-add ALL --cap-drop "$HAKUBELAB_NODE_CAP_DROP_1" --cap-drop "$HAKUBELAB_NODE_CAP_DROP_2" --cap-drop "$HAKUBELAB_NODE_CAP_DROP_3"
          --security-opt systempaths=unconfined --device-cgroup-rule 'a *:* rwm' --device /dev/kmsg); fi
for n in m01 m02 m03; do
  ipvar=HAKUBELAB_${n^^}_IP
  docker volume create "${L[@]}" --label io.hakubelab.role=volume --label "io.hakubelab.node=$n" "$lab-$n-var" >/dev/null
  docker run -d --name "$lab-$n" --hostname "$n" --network "$lab" --ip "${!ipvar}" --network-alias "$n" "${powers[@]}" \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined --cgroupns=private \
    --tmpfs /tmp --tmpfs /run -v "$lab-$n-var:/var" -e container=docker \
    -v "$HAKUBELAB_RENDERED/$n/etc/haproxy:/etc/haproxy" -v "$HAKUBELAB_RENDERED/$n/etc/keepalived:/etc/keepalived" \
    "${L[@]}" --label io.hakubelab.role=node --label "io.hakubelab.node=$n" --label "io.hakubelab.ip=${!ipvar}" \
    "$HAKUBELAB_IMAGE_NODE" >/dev/null
done
for n in m01 m02 m03; do
  until s=$(docker exec "$lab-$n" systemctl is-system-running 2>/dev/null); [ "$s" = running ] || [ "$s" = degraded ]; do sleep 0.2; done
done
t1=$(now_ms); echo "phase nodes $((t1 - t0))"
for n in m01 m02 m03; do
  docker run -d --name="$lab-$n-haproxy" --net="container:$lab-$n" --restart=always \
    -v "$HAKUBELAB_RENDERED/$n/etc/haproxy:/usr/local/etc/haproxy:ro" "${L[@]}" --label io.hakubelab.role=haproxy --label "io.hakubelab.node=$n" \
    "$HAKUBELAB_IMAGE_HAPROXY" >/dev/null
done
for n in m01 m02 m03; do
  docker run --name="$lab-$n-keepalived" --cap-add=NET_ADMIN --cap-add=NET_BROADCAST --cap-add=NET_RAW --net="container:$lab-$n" --restart=always \
    --volume "$HAKUBELAB_RENDERED/$n/etc/keepalived/keepalived.conf:/container/service/keepalived/assets/keepalived.conf" \
    "${L[@]}" --label io.hakubelab.role=keepalived --label "io.hakubelab.node=$n" -d "$HAKUBELAB_IMAGE_KEEPALIVED" >/dev/null
done
t2=$(now_ms); echo "phase sidecars $((t2 - t1))"
until timeout 0.5 bash -c "echo > /dev/tcp/$HAKUBELAB_VIP/$HAKUBELAB_LB_PORT" 2>/dev/null; do
  [ $(($(now_ms) - t2)) -lt 60000 ] || fail "$HAKUBELAB_VIP:$HAKUBELAB_LB_PORT did not answer within 60 s"
  sleep 0.05
done
t3=$(now_ms); echo "phase vip $((t3 - t2))"; echo "phase load-balancer-total $((t3 - t0))"
[ "$kubernetes" = 1 ] || exit 0
"$root/scripts/compose-bootstrap.sh" --lab "$lab"
echo "phase total $(($(now_ms) - t0))"
