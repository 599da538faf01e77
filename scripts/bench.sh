#!/usr/bin/env bash
# Kept for old habits: the benchmark is `./hakubelab bench` now (see ./hakubelab bench --help).
# Usage: scripts/bench.sh [RUNS] [more bench options]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=3
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then runs=$1; shift; fi
exec "$root/hakubelab" bench --runs "$runs" "$@"
