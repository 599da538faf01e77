#!/usr/bin/env bash
# Kubernetes in a lab of docker-compose.lab.yml (or of scripts/runbook-plain.sh): the runbook's section two,
# step by step, over `docker exec` instead of SSH: load the control-plane images, the runbook's init
# script on m01 (kubeadm init --upload-certs through the VIP), `kubeadm join --control-plane` of m02 then
# m03, a CNI (bridge + host-local; calico cannot be fetched offline), readiness through the VIP.
# It writes the admin kubeconfig where `./hakubelab kubeconfig --lab NAME` and `status` look for it.
# Prints one machine-readable line per phase on stdout: "phase <name> <milliseconds>".
#
#   scripts/compose-bootstrap.sh [--lab NAME]      (default: hakubelab, or HAKUBELAB_LAB)
#
# Why a script and not a one-shot compose service: a service would need the docker socket mounted
# (it runs docker exec into its siblings) and an image holding the CLI; a script of plain commands
# is what a person following the runbook types, runs with Docker alone, and shows each step.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
lab=${HAKUBELAB_LAB:-hakubelab}
while [ $# -gt 0 ]; do
  case "$1" in
    --lab) lab=${2:?--lab needs a name}; shift 2 ;;
    *) echo "usage: $0 [--lab NAME]" >&2; exit 2 ;;
  esac
done
state=${HAKUBELAB_STATE:-${XDG_STATE_HOME:-$HOME/.local/state}/hakubelab}
log() { printf '[bootstrap %s] %s\n' "$lab" "$*" >&2; }
fail() { log "error: $*"; exit 1; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
phase_start=0
phase() { phase_name=$1; phase_start=$(now_ms); log "$1 ..."; }
done_phase() { local t=$(($(now_ms) - phase_start)); log "$phase_name ok ($((t / 1000)).$(printf '%03d' $((t % 1000))) s)"; echo "phase $phase_name $t"; }

# The lab's facts come from Docker's labels, as `./hakubelab status` reads them: no topology file needed.
net=$(docker network ls -q --filter "label=io.hakubelab.lab=$lab" | head -n 1)
[ -n "$net" ] || fail "no network labelled io.hakubelab.lab=$lab: bring the lab up first (scripts/compose-lab.sh up --lab $lab)"
label() { docker network inspect -f "{{index .Labels \"$1\"}}" "$net"; }
vip=$(label io.hakubelab.vip); api_port=$(label io.hakubelab.apiserver-port)
nodes=(); ips=()
while read -r name ip; do nodes+=("$name"); ips+=("$ip"); done < <(
  docker ps --filter "label=io.hakubelab.lab=$lab" --filter "label=io.hakubelab.role=node" \
    --format '{{.Label "io.hakubelab.node"}} {{.Label "io.hakubelab.ip"}}' | sort)
[ ${#nodes[@]} -ge 2 ] || fail "lab $lab has ${#nodes[@]} running nodes; the runbook needs m01-m03"
first=${nodes[0]}
c() { echo "$lab-$1"; }                       # node container name
x() { local n=$1; shift; docker exec "$(c "$n")" bash -c "$*"; }   # run a command in a node, as over SSH
xi() { local n=$1; shift; docker exec -i "$(c "$n")" bash -c "$*"; }  # the same, with this script's stdin (a file's text)

# The runbook's files for m01: rendered next to the compose lab's env file, else rendered now.
rendered=""
for d in "$state/labs/$lab/compose/rendered" "${HAKUBELAB_RENDERED:-}"; do [ -f "$d/$first/root/init-master.sh" ] && rendered=$d; done
[ -n "$rendered" ] || fail "no rendered init-master.sh for $first under $state/labs/$lab/compose/rendered or HAKUBELAB_RENDERED (scripts/compose-lab.sh env writes it)"
pod_subnet=$(sed -n 's/^ *podSubnet: *//p' "$rendered/$first/root/kubeadm-config.yaml" | head -n 1)
[ -n "$pod_subnet" ] || fail "no podSubnet in $rendered/$first/root/kubeadm-config.yaml"

phase load-images
pids=()
for n in "${nodes[@]}"; do x "$n" 'systemctl start hakubelab-preload-images' & pids+=($!); done
for p in "${pids[@]}"; do wait "$p" || fail "loading the control-plane images into a node's containerd failed"; done
done_phase

phase kubeadm-init
if x "$first" 'test -f /etc/kubernetes/admin.conf && kubectl --kubeconfig /etc/kubernetes/admin.conf get --raw /readyz' >/dev/null 2>&1; then
  log "$first already serves the API: init skipped"
else
  docker cp "$rendered/$first/root/init-master.sh" "$(c "$first"):/root/init-master.sh"
  x "$first" "chmod 0755 /root/init-master.sh && cd /root && export MASTER_VIP=$vip POD_SUBNET=$pod_subnet && ./init-master.sh" >&2 \
    || fail "kubeadm init on $first failed; see: docker exec $(c "$first") journalctl -u kubelet -n 50"
fi
done_phase

mkdir -p "$state/labs/$lab"
docker exec "$(c "$first")" cat /etc/kubernetes/admin.conf > "$state/labs/$lab/kubeconfig.tmp" && chmod 0600 "$state/labs/$lab/kubeconfig.tmp"
mv "$state/labs/$lab/kubeconfig.tmp" "$state/labs/$lab/kubeconfig"

for i in "${!nodes[@]}"; do
  [ "$i" -gt 0 ] || continue
  n=${nodes[$i]}
  phase "join-$n"
  if x "$n" 'test -f /etc/kubernetes/kubelet.conf && test -f /etc/kubernetes/manifests/kube-apiserver.yaml'; then
    log "$n has joined already"
  else
    join=$(x "$first" 'kubeadm token create --print-join-command' | tail -n 1)
    key=$(x "$first" 'kubeadm init phase upload-certs --upload-certs --config /root/kubeadm-config.yaml 2>/dev/null | tail -n 1')
    # kubelet 1.20 under load: a static pod admitted before cadvisor knows the disk's size is refused for good
    # ("Failed to admit pod etcd-...: ephemeral-storage"), the new etcd member never starts and the 2-member etcd
    # loses quorum. Seen on this machine at load 30; a kubelet restart admits it. Watch for it during the join.
    ( for _ in $(seq 1 90); do
        sleep 4
        if x "$n" "journalctl -u kubelet --no-pager 2>/dev/null | grep -q 'Failed to admit pod etcd-'" 2>/dev/null; then
          log "kubelet on $n refused its etcd pod at start (ephemeral-storage not yet known, a kubelet 1.20 race): restarting the kubelet"
          x "$n" "systemctl restart kubelet"; exit 0
        fi
      done ) &
    watcher=$!
    # A token refused in preflight (nothing changed on the node yet) is tried again: the VIP sent the discovery to an
    # apiserver whose cache has not seen the token just created on the first master (one that joined moments ago).
    tries=1
    until out=$(x "$n" "$join --control-plane --certificate-key $key --apiserver-advertise-address ${ips[$i]} --apiserver-bind-port $api_port --node-name $n --cri-socket /run/containerd/containerd.sock --ignore-preflight-errors=ImagePull 2>&1 && rm -rf /root/.kube && mkdir -p /root/.kube && cp /etc/kubernetes/admin.conf /root/.kube/config"); do
      printf '%s\n' "$out" >&2
      if [ "$tries" -lt 5 ] && grep -q 'error execution phase preflight' <<<"$out" && grep -q 'Unauthorized' <<<"$out"; then
        tries=$((tries + 1))
        log "kubeadm join of $n: the token was refused before the node changed anything; trying again ($tries of 5)"
        sleep 2
        continue
      fi
      kill "$watcher" 2>/dev/null || true; fail "kubeadm join of $n failed; see: docker exec $(c "$n") journalctl -u kubelet -n 50"
    done
    printf '%s\n' "$out" >&2
    kill "$watcher" 2>/dev/null || true
  fi
  done_phase
done

phase cni
declare -A cidr
for _ in $(seq 1 90); do
  while read -r n pc; do [ -n "$pc" ] && cidr[$n]=$pc; done < <(x "$first" "kubectl get nodes -o jsonpath='{range .items[*]}{.metadata.name} {.spec.podCIDR}{\"\\n\"}{end}'")
  [ ${#cidr[@]} -ge ${#nodes[@]} ] && break
  sleep 1
done
[ ${#cidr[@]} -ge ${#nodes[@]} ] || fail "nodes without a podCIDR after 90 s (is the controller-manager running?)"
for i in "${!nodes[@]}"; do
  n=${nodes[$i]}
  xi "$n" "mkdir -p /etc/cni/net.d && cat > /etc/cni/net.d/10-hakubelab-bridge.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "hakubelab",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "${cidr[$n]}" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
JSON
  for j in "${!nodes[@]}"; do [ "$j" = "$i" ] || x "$n" "ip route replace ${cidr[${nodes[$j]}]} via ${ips[$j]}"; done
done
done_phase

phase readiness
ready=""
for _ in $(seq 1 300); do
  # Through the VIP, from the host, with the admin kubeconfig's credentials (kubectl in m01 names the VIP too).
  ready=$(x "$first" "kubectl --kubeconfig /etc/kubernetes/admin.conf --server https://$vip:$api_port get nodes --no-headers 2>/dev/null | awk '\$2 == \"Ready\"' | wc -l" || echo 0)
  if [ "$ready" -ge "${#nodes[@]}" ] && x "$first" "kubectl --kubeconfig /etc/kubernetes/admin.conf --server https://$vip:$api_port get --raw /readyz" >/dev/null 2>&1; then break; fi
  sleep 1
done
[ "$ready" -ge "${#nodes[@]}" ] || fail "only $ready of ${#nodes[@]} nodes Ready through https://$vip:$api_port after 5 min"
done_phase
# Record that Kubernetes runs (status then shows each apiserver and etcd), when the lab has a record to update.
if [ -f "$state/labs/$lab/compose/topology.yaml" ] && command -v dotnet >/dev/null; then
  "$root/hakubelab" compose-prepare -t "$state/labs/$lab/compose/topology.yaml" --out "$rendered" --kubernetes >/dev/null
fi
log "Kubernetes answers through https://$vip:$api_port; kubeconfig: $state/labs/$lab/kubeconfig"
