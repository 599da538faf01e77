#!/usr/bin/env bash
# ./hakubelab dashboard: the lab as an Aspire app, live in the dashboard.
# Does the host set-up 'up' does (Docker engine, images), builds the AppHost when its sources changed,
# runs it headless (no launch profile, plain HTTP on loopback, no login) and prints the dashboard's URL.
# Ctrl-C or SIGTERM stops the AppHost, which removes the lab it created (unless --keep).
#
# Usage: ./hakubelab dashboard [--topology FILE] [--lab NAME] [--subnet CIDR] [--no-kubernetes] [--keep] [--port N]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
port=${HAKUBELAB_DASHBOARD_PORT:-18888}
while [ $# -gt 0 ]; do
  case "$1" in
    --topology|-t) export HAKUBELAB_TOPOLOGY=$(realpath "$2"); shift 2 ;;
    --lab) export HAKUBELAB_LAB=$2; shift 2 ;;
    --subnet) export HAKUBELAB_SUBNET=$2; shift 2 ;;
    --no-kubernetes) export HAKUBELAB_KUBERNETES=false; shift ;;
    --keep) export HAKUBELAB_KEEP=true; shift ;;
    --port) port=$2; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "dashboard: unknown option '$1' (see ./hakubelab dashboard --help)" >&2; exit 2 ;;
  esac
done

"$root/scripts/ensure-host.sh" all
echo "[dashboard] images (cached by input hash; the first Kubernetes build takes long) ..." >&2
"$root/scripts/images/build.sh" all >/dev/null

out="$root/artifacts/apphost"
stamp="$out/.sources-hash"
hash=$(cd "$root" && find src chaos AppHost -type f \( -name '*.cs' -o -name '*.csproj' -o -name '*.tmpl' -o -name '*.yaml' \) -not -path '*/bin/*' -not -path '*/obj/*' -print0 \
       | sort -z | xargs -0 sha256sum | cat - Directory.Build.props Directory.Packages.props | sha256sum | cut -c1-16)
if [ ! -f "$out/HaKubeLab.AppHost.dll" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$hash" ]; then
  echo "[dashboard] building the AppHost ..." >&2
  dotnet build "$root/AppHost/HaKubeLab.AppHost/HaKubeLab.AppHost.csproj" -c Release -o "$out" -nologo -v q -clp:ErrorsOnly >&2
  echo "$hash" > "$stamp"
fi

# Headless settings (see FACTS.md, Aspire): plain HTTP on loopback, anonymous dashboard, fixed ports.
export HAKUBELAB_ROOT="$root"
export DOCKER_API_VERSION=${DOCKER_API_VERSION:-1.41}
export ASPIRE_ALLOW_UNSECURED_TRANSPORT=true
export ASPIRE_DASHBOARD_UNSECURED_ALLOW_ANONYMOUS=true
export ASPNETCORE_URLS="http://127.0.0.1:$port"
export ASPIRE_DASHBOARD_OTLP_ENDPOINT_URL="http://127.0.0.1:$((port + 1))"
export ASPIRE_RESOURCE_SERVICE_ENDPOINT_URL="http://127.0.0.1:$((port + 2))"
url="http://127.0.0.1:$port"

cd "$out"
# Print the URL once the dashboard answers, from a helper that ends with it; the AppHost itself replaces this
# shell (exec), so Ctrl-C and SIGTERM reach it directly and it removes its lab before exiting.
self=$$
(
  for _ in $(seq 1 180); do
    kill -0 "$self" 2>/dev/null || exit 0
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then
      echo "[dashboard] Aspire dashboard: $url   (lab resources, VIP holder, commands; Traces and Metrics for up/bootstrap/chaos)" >&2
      echo "[dashboard] Ctrl-C stops the AppHost and removes the lab it created${HAKUBELAB_KEEP:+ (kept: HAKUBELAB_KEEP=true)}." >&2
      exit 0
    fi
    sleep 1
  done
) &
exec dotnet HaKubeLab.AppHost.dll
