#!/usr/bin/env bash
# Runs every test: unit tests (pure) and integration tests (real Docker labs, images built locally
# and cached). Sets up the host first, so it works on a fresh machine. Prints "N passed, N failed".
# Results: artifacts/test-results/ (TRX and JUnit XML per test project; CI systems read the *.junit.xml).
#   scripts/test.sh --samples [dotnet test args]   only the sample failover suite (tests/HaKubeLab.Samples.Failover)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export HAKUBELAB_ROOT="$root"
# Docker 20.10 (Debian bookworm) speaks API 1.41; Testcontainers' Ryuk image cannot be pulled here.
export DOCKER_API_VERSION=1.41 TESTCONTAINERS_RYUK_DISABLED=true
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

scripts/ensure-host.sh all
scripts/ensure-host.sh browser   # Debian's chromium for the AppHost's real-browser test
# Build the images up front so the first test is not charged for it, and a failure says which step.
scripts/images/build.sh all >/dev/null

target=HaKubeLab.sln
if [ "${1:-}" = "--samples" ]; then target=tests/HaKubeLab.Samples.Failover/HaKubeLab.Samples.Failover.csproj; shift; fi

results="$root/artifacts/test-results"
rm -rf "$results"
status=0
# One TRX (named by VSTest) and one JUnit file ({assembly}.junit.xml) per test project.
dotnet test "$target" -c Release --results-directory "$results" \
  --logger "trx" \
  --logger "junit;LogFilePath=$results/{assembly}.junit.xml;MethodFormat=Class;FailureBodyFormat=Verbose" \
  --logger "console;verbosity=normal" "$@" || status=$?

passed=0; failed=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters"); f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
done
# CI keeps only the tail of the output: name each failed test and the start of its message last.
if [ "$failed" != 0 ]; then
  echo "failed tests:"
  for trx in "$results"/*.trx; do
    [ -f "$trx" ] || continue
    awk '
      /<UnitTestResult / && /outcome="Failed"/ { match($0, /testName="[^"]*"/); name = substr($0, RSTART + 10, RLENGTH - 11); gsub(/&quot;/, "\"", name); print "  FAILED " name; want = 1; next }
      want && /<Message>/ { sub(/.*<Message>/, ""); lines = 0; inmsg = 1 }
      inmsg { done = sub(/<\/Message>.*/, ""); gsub(/&#xD;/, ""); gsub(/&lt;/, "<"); gsub(/&gt;/, ">"); gsub(/&quot;/, "\""); gsub(/&amp;/, "\\&");
              if (lines++ < 12) print "    " $0; if (done) { inmsg = 0; want = 0 } }
    ' "$trx"
  done
fi
echo "tests: $passed passed, $failed failed"
if [ "$status" = 0 ] && [ "$passed" = 0 ]; then echo "no test ran" >&2; exit 1; fi
exit "$status"
