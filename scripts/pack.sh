#!/usr/bin/env bash
# Packs the test library and the two libraries it builds on into artifacts/packages/, so a QA
# project can reference HaKubeLab.Testing from a local folder or a feed.
# Usage: scripts/pack.sh [VERSION]   (default 1.0.0)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=${1:-1.0.0}
out="$root/artifacts/packages"
mkdir -p "$out"
for project in src/HaKubeLab.Lab chaos/HaKubeLab.Chaos src/HaKubeLab.Testing; do
  dotnet pack "$root/$project" -c Release -o "$out" -p:Version="$version" --nologo -v quiet
done
ls -1 "$out"/*."$version".nupkg
