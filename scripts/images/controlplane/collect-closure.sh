#!/bin/bash
# collect-closure.sh OUT PATH... : copies each path (files and folders) and every shared library the
# binaries among them load into OUT, keeping paths. Symlinks are copied as the files they point to:
# Debian's links are relative to a merged /usr that the minimal image does not reproduce.
set -euo pipefail
out=$1; shift
copy() {
  local p=$1
  [ -e "$p" ] || [ -L "$p" ] || { echo "collect-closure: $p does not exist" >&2; exit 1; }
  mkdir -p "$out$(dirname "$p")"
  cp -L --preserve=mode "$p" "$out$p"
}
for p in "$@"; do
  if [ -d "$p" ]; then find "$p" \( -type f -o -type l \) | while read -r f; do copy "$f"; done; else copy "$p"; fi
done
# Shared libraries of every ELF file copied (ldd prints nothing useful for static binaries).
find "$out" -type f | while read -r f; do
  # Static binaries make ldd fail and grep find nothing; neither is an error here.
  { ldd "${f#$out}" 2>/dev/null || true; } | { grep -oE '/[^ ]+\.so[^ ]*' || true; } | sort -u | while read -r lib; do
    [ -e "$out$lib" ] || copy "$lib"
  done
done
mkdir -p "$out/tmp" "$out/var/lib" "$out/run" "$out/etc"
chmod 1777 "$out/tmp"
