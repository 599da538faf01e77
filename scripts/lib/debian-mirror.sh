#!/usr/bin/env bash
# Prints the Debian mirror this host's apt uses for bookworm (not -security), so builds follow
# whatever mirror or proxy the machine is set up with. The project never names a mirror itself.
set -euo pipefail
mirror=""
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  # deb822: blank-line separated stanzas; take URIs of a stanza whose Suites has plain bookworm.
  mirror=$(awk -v RS= '/(^|\n)Types:[^\n]*deb/ && /(^|\n)Suites:[^\n]*bookworm([ \t]|\n|$)/ {
      if (match($0, /(^|\n)URIs:[ \t]*[^ \t\n]+/)) { s = substr($0, RSTART, RLENGTH); sub(/^\n?URIs:[ \t]*/, "", s); print s; exit } }' "$f")
  [ -n "$mirror" ] && break
done
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
  mirror=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { if ($(i+1) == "bookworm") { print $i; exit } } }' /etc/apt/sources.list)
fi
if [ -z "$mirror" ]; then
  echo "no Debian bookworm mirror found in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list; add your mirror there (a 'deb <mirror> bookworm main' entry)" >&2
  exit 1
fi
printf '%s\n' "$mirror"
