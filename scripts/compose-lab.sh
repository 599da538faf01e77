#!/usr/bin/env bash
# The lab of docker-compose.lab.yml: writes its env file (image tags, addresses, host capabilities,
# the rendered runbook files' folder), brings it up or down with whichever compose this machine has.
#
#   scripts/compose-lab.sh env  [--lab NAME] [--subnet A.B.C.0/24]   # prints the env file's path
#   scripts/compose-lab.sh up   [--lab NAME] [--subnet A.B.C.0/24]   # env, compose up -d, waits for VIP:port
#   scripts/compose-lab.sh down [--lab NAME]                         # compose down -v (or: ./hakubelab down --lab NAME)
#   scripts/compose-lab.sh compose [--lab NAME] ARGS...              # any compose command on that lab
#
# Defaults are the runbook's: lab 'hakubelab', 192.168.100.0/24, VIP .190, m01-m03 at .191-.193, gateway .1.
# Environment instead of flags: HAKUBELAB_LAB, HAKUBELAB_SUBNET. The env file and the rendered files
# live in the lab's state folder (~/.local/state/hakubelab/labs/<lab>/compose), which `./hakubelab down` removes.
# Rendering and the lab's record (lab.json, which status/kubeconfig/chaos read) come from `./hakubelab compose-prepare`
# (the runbook's templates live in the C# renderers; .NET SDK needed). Without .NET, set HAKUBELAB_RENDERED to a folder
# rendered elsewhere (<node>/etc/{haproxy,keepalived}, m01/root/...): images then come from scripts/images/build.sh alone.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
compose_file="$root/docker-compose.lab.yml"
log() { printf '[compose-lab] %s\n' "$*" >&2; }
fail() { log "error: $*"; exit "${2:-1}"; }

cmd=${1:-}; [ $# -gt 0 ] && shift
lab=${HAKUBELAB_LAB:-hakubelab}
subnet=${HAKUBELAB_SUBNET:-192.168.100.0/24}
while [ $# -gt 0 ]; do
  case "$1" in
    --lab) lab=${2:?--lab needs a name}; shift 2 ;;
    --subnet) subnet=${2:?--subnet needs a CIDR such as 192.168.160.0/24}; shift 2 ;;
    --) shift; break ;;
    *) [ "$cmd" = compose ] && break; fail "unknown argument '$1' (see the usage at the top of $0)" 2 ;;
  esac
done
[[ $lab =~ ^[a-z0-9][a-z0-9-]{0,40}$ ]] || fail "--lab '$lab': use lower-case letters, digits and '-' (it names containers and the network)" 2
[[ $subnet =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.0/24$ ]] || fail "--subnet '$subnet': give a /24 such as 192.168.160.0/24 (the lab uses .1 as gateway, .190 as VIP, .191-.193 for m01-m03)" 2
prefix=${subnet%.0/24}
state=${HAKUBELAB_STATE:-${XDG_STATE_HOME:-$HOME/.local/state}/hakubelab}
dir="$state/labs/$lab/compose"
env_file="$dir/lab.env"

compose() { # the v2 plugin where present, else Debian's docker-compose (v1); both read the same file
  if docker compose version >/dev/null 2>&1; then docker compose "$@"; else docker-compose "$@"; fi
}
run_compose() { compose -p "$lab" --env-file "$env_file" -f "$compose_file" "$@"; }

host_caps() { # sets privileged and cap_drop (Docker names of capabilities the host's bounding set lacks)
  local names=(CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE
    NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE
    SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL
    SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE)
  local bnd last c
  bnd=$((16#$(awk '/^CapBnd:/ {print $2}' /proc/self/status)))
  last=$(cat /proc/sys/kernel/cap_last_cap 2>/dev/null || echo 40)
  cap_drop=()
  for ((c = 0; c <= last && c < ${#names[@]}; c++)); do
    (( (bnd >> c) & 1 )) || cap_drop+=("${names[$c]}")
  done
  if [ ${#cap_drop[@]} -eq 0 ]; then privileged=true; else privileged=false; fi
  [ ${#cap_drop[@]} -le 3 ] || fail "this host lacks ${#cap_drop[@]} capabilities (${cap_drop[*]}); docker-compose.lab.yml has 3 cap_drop slots: add HAKUBELAB_NODE_CAP_DROP_4.. there"
}

write_topology() {
  mkdir -p "$dir"
  cat > "$dir/topology.yaml" <<YAML
name: $lab
subnet: $subnet
vip: $prefix.190
nodes:
  - { name: m01, ip: $prefix.191, state: MASTER }
  - { name: m02, ip: $prefix.192 }
  - { name: m03, ip: $prefix.193 }
YAML
}

images_and_files() { # sets image_* and rendered
  local out
  if [ -n "${HAKUBELAB_RENDERED:-}" ] || ! command -v dotnet >/dev/null; then
    # Without .NET: images from the plain-shell build, files rendered elsewhere; no lab record (status/chaos need one).
    rendered=${HAKUBELAB_RENDERED:-}
    [ -n "$rendered" ] || fail "rendering the runbook's files needs the .NET SDK (./hakubelab compose-prepare); without it set HAKUBELAB_RENDERED to a folder with <node>/etc/haproxy/haproxy.cfg and <node>/etc/keepalived/keepalived.conf"
    log "using files rendered in $rendered (no lab record: ./hakubelab status needs one; down works by label)"
    out=$("$root/scripts/images/build.sh" all) || fail "scripts/images/build.sh all failed (see above)"
  else
    # The CLI checks the images (the same build.sh), renders with the lab's own secret, and writes the lab's record.
    rendered=$dir/rendered
    write_topology
    out=$("$root/hakubelab" compose-prepare -t "$dir/topology.yaml" --out "$rendered") || fail "./hakubelab compose-prepare -t $dir/topology.yaml failed (see above)"
  fi
  image_node=$(sed -n 's/^node=//p' <<<"$out"); image_haproxy=$(sed -n 's/^haproxy=//p' <<<"$out"); image_keepalived=$(sed -n 's/^keepalived=//p' <<<"$out")
  [ -n "$image_node" ] && [ -n "$image_haproxy" ] && [ -n "$image_keepalived" ] || fail "no node/haproxy/keepalived image tag was printed"
}

write_env() {
  "$root/scripts/ensure-host.sh" compose
  host_caps; images_and_files
  mkdir -p "$dir"
  local tmp="$env_file.tmp-$$"
  {
    echo "# Written by scripts/compose-lab.sh env at $(date -u +%FT%TZ); rewrite it rather than edit it."
    echo "COMPOSE_PROJECT_NAME=$lab"
    echo "HAKUBELAB_ROOT=$root"
    echo "HAKUBELAB_LAB=$lab"
    echo "HAKUBELAB_SUBNET=$subnet"
    echo "HAKUBELAB_GATEWAY=$prefix.1"
    echo "HAKUBELAB_VIP=$prefix.190"
    echo "HAKUBELAB_M01_IP=$prefix.191"
    echo "HAKUBELAB_M02_IP=$prefix.192"
    echo "HAKUBELAB_M03_IP=$prefix.193"
    echo "HAKUBELAB_LB_PORT=9443"
    echo "HAKUBELAB_APISERVER_PORT=6443"
    echo "HAKUBELAB_RENDERED=$rendered"
    echo "HAKUBELAB_IMAGE_NODE=$image_node"
    echo "HAKUBELAB_IMAGE_HAPROXY=$image_haproxy"
    echo "HAKUBELAB_IMAGE_KEEPALIVED=$image_keepalived"
    echo "HAKUBELAB_NODE_PRIVILEGED=$privileged"
    local i
    # Three distinct entries (compose refuses repeats): unused slots repeat the first in spellings the engine reads alike.
    local first=${cap_drop[0]:-SYS_RESOURCE}
    local pad=("$first" "CAP_$first" "${first,,}")
    for i in 1 2 3; do echo "HAKUBELAB_NODE_CAP_DROP_$i=${cap_drop[$((i - 1))]:-${pad[$((i - 1))]}}"; done
  } > "$tmp"
  mv "$tmp" "$env_file"
}

vip_answers() { timeout 0.5 bash -c "echo > /dev/tcp/$prefix.190/9443" 2>/dev/null; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

case "$cmd" in
  env) write_env; echo "$env_file" ;;
  up)
    t0=$(now_ms)
    write_env
    t1=$(now_ms)
    log "compose up -d (lab $lab, $subnet)"
    run_compose up -d >&2
    t2=$(now_ms)
    for _ in $(seq 1 1200); do vip_answers && break; sleep 0.05; done
    vip_answers || fail "$prefix.190:9443 did not answer within 60 s; see: docker logs $lab-m01-keepalived"
    t3=$(now_ms)
    log "VIP $prefix.190:9443 answers. env+images+render $(((t1 - t0)))ms, compose up $(((t2 - t1)))ms, VIP $(((t3 - t2)))ms after compose up"
    echo "$env_file"
    ;;
  down)
    if [ -f "$env_file" ]; then run_compose down -v --remove-orphans >&2; fi
    # Anything compose did not know of (a crashed run, a lost env file) goes by label, as `./hakubelab down` does.
    ids=$(docker ps -aq --filter "label=io.hakubelab.lab=$lab"); [ -z "$ids" ] || docker rm -f -v $ids >/dev/null
    ids=$(docker network ls -q --filter "label=io.hakubelab.lab=$lab"); [ -z "$ids" ] || docker network rm $ids >/dev/null
    ids=$(docker volume ls -q --filter "label=io.hakubelab.lab=$lab"); [ -z "$ids" ] || docker volume rm -f $ids >/dev/null
    rm -rf "$dir"
    log "lab $lab removed"
    ;;
  compose) [ -f "$env_file" ] || fail "no env file for lab $lab: run $0 env --lab $lab first"; run_compose "$@" ;;
  *) fail "usage: $0 env|up|down|compose [--lab NAME] [--subnet A.B.C.0/24]" 2 ;;
esac
