#!/usr/bin/env bash
# Benchmark: bring-up time (fresh lab and second, idempotent up), VIP failover after killing the
# holder's node (N runs, measured beside the VRRP prediction), and the lab's memory.
# Uses a lab of its own ('hkl-bench', 192.168.199.0/24) and removes it at the end.
# Usage: scripts/bench.sh [RUNS]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${1:-5}
lab=hkl-bench
topo=$(mktemp --suffix=.yaml)
trap './hakubelab down --lab "$lab" >/dev/null 2>&1 || true; rm -f "$topo"' EXIT
cat > "$topo" <<YAML
name: $lab
subnet: 192.168.199.0/24
vip: 192.168.199.190
nodes:
  - { name: m01, ip: 192.168.199.191, state: MASTER }
  - { name: m02, ip: 192.168.199.192 }
  - { name: m03, ip: 192.168.199.193 }
YAML
cd "$root"
now() { date +%s%N; }
since() { local d=$(( $(now) - $1 )); printf '%d.%03d' $((d / 1000000000)) $((d / 1000000 % 1000)); }
vip_answers() { timeout 0.3 bash -c 'echo > /dev/tcp/192.168.199.190/9443' 2>/dev/null; }

./hakubelab down --lab "$lab" >/dev/null
t=$(now); ./hakubelab up -t "$topo" >/dev/null; echo "up (fresh lab, images cached): $(since "$t") s"
t=$(now); ./hakubelab up -t "$topo" >/dev/null; echo "up (second, nothing to change): $(since "$t") s"
echo "memory (docker stats):"; docker stats --no-stream --format '  {{.Name}} {{.MemUsage}}' $(docker ps -q --filter "label=io.hakubelab.lab=$lab")
# Predicted: master-down interval of a backup at priority 111 (100 + weight 11) = 3 x 1 + 145/256 s.
echo "predicted failover after a node kill: 3.57 s (3 x advert_int + (256-111)/256); probe interval 50 ms"
for i in $(seq 1 "$runs"); do
  holder=$(./hakubelab status --lab "$lab" --json | sed -n 's/.*"vipHolder": "\(m0[0-9]\)".*/\1/p')
  docker kill "$lab-$holder" >/dev/null; t=$(now)
  until vip_answers; do sleep 0.05; done
  echo "run $i: killed $holder, VIP:9443 answered again after $(since "$t") s"
  ./hakubelab up -t "$topo" >/dev/null   # bring the killed node back (its sidecars are recreated)
done
