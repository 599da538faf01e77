#!/usr/bin/env bash
# Builds the Kubernetes v1.20.2 binaries the lab needs (kubeadm, kubelet, kube-apiserver,
# kube-controller-manager, kube-scheduler, kube-proxy, kubectl, pause) offline from Debian
# bookworm's `kubernetes` source package (1.20.5+really1.20.2, full upstream tree with vendor/).
#
# Output: the path of a cache directory on stdout (nothing else goes to stdout):
#   ${HAKUBELAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hakubelab}/kubernetes/<key>/
#     bin/<binaries>  VERSION  build.json  key.txt  build.log  .complete
# <key> is a sha256 over every input (source package version, this script, patches in
# scripts/kubernetes/patches/, Go and gcc versions, reflect2 version, build flags). A directory
# with `.complete` is reused at once; entries are built elsewhere and renamed into place only when
# every binary built and passed its smoke test.
#
# The source package comes from the Debian mirror the host's apt is configured with, through a
# private apt configuration (own sources dir, lists and cache); the host's apt state is not touched.
# Once downloaded, the source package is reused without network (pass --refresh to ask the mirror
# for a newer revision of the package).
#
# Options: --refresh   query the mirror for the current source package even if one is cached
#          --force     rebuild even if a complete cache entry exists (replaces it)
# Progress goes to stderr as "[k8s-build MM:SS] ...".
set -euo pipefail

readonly SUITE=bookworm            # the Debian release whose `kubernetes` source package we build
readonly SRC_PACKAGE=kubernetes
readonly EXPECTED_VERSION=v1.20.2  # kubeadm/kubelet version the lab's seed config expects
readonly BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubeadm kube-proxy kubectl)
readonly GO_TAGS=selinux,notest
readonly GO_ENV=(GO111MODULE=off GOFLAGS= GOPROXY=off GOENV=off CGO_ENABLED=0 GOOS=linux GOARCH=amd64)
readonly GO_BUILD_FLAGS=(-trimpath -tags "$GO_TAGS")
readonly GO_LDFLAGS_BASE="-s -w"
readonly PAUSE_CFLAGS="-Os -Wall -Werror -static"
readonly REFLECT2_DIR=/usr/share/gocode/src/github.com/modern-go/reflect2
readonly REFLECT2_PKG=golang-github-modern-go-reflect2-dev
readonly REFLECT2_MIN=1.0.2

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCRIPT_PATH="$SCRIPT_DIR/$(basename "${BASH_SOURCE[0]}")"
CACHE_ROOT="${HAKUBELAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hakubelab}"
K8S_CACHE="$CACHE_ROOT/kubernetes"
SRC_CACHE="$K8S_CACHE/source"     # downloaded .dsc / .orig.tar.gz / .debian.tar.xz
GOCACHE_DIR="$K8S_CACHE/gocache"  # persistent Go build cache (speeds up rebuilds)
WORK="$K8S_CACHE/.work"           # GOPATH + source tree of the build in progress

refresh=0 force=0
for arg in "$@"; do
  case "$arg" in
    --refresh) refresh=1 ;;
    --force) force=1 ;;
    -h|--help) sed -n '2,22p' "$SCRIPT_PATH" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
    *) echo "build-binaries.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

# ---------------------------------------------------------------------------------------------
# progress, steps and failure reporting

START=$SECONDS
elapsed() { local s=$((SECONDS - START)); printf '%02d:%02d' $((s / 60)) $((s % 60)); }
log() { printf '[k8s-build %s] %s\n' "$(elapsed)" "$*" >&2; }

STEP="start"
LOG_FILE=/dev/null
TMP_DIRS=()
cleanup() {
  local rc=$?
  local d
  for d in "${TMP_DIRS[@]}"; do rm -rf -- "$d"; done
  if [ "$rc" != 0 ]; then
    log "FAILED in step: $STEP (exit $rc)"
    if [ "$LOG_FILE" != /dev/null ] && [ -s "$LOG_FILE" ]; then
      log "last lines of $LOG_FILE:"
      tail -n 40 "$LOG_FILE" | sed 's/^/    /' >&2
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT

fail() { log "error: $*"; exit 1; }

# step NAME COMMAND...: runs COMMAND with its output in the build log; a failure names the step.
step() {
  STEP=$1; shift
  log "$STEP ..."
  printf '\n==== %s: %s\n' "$STEP" "$*" >>"$LOG_FILE"
  "$@" >>"$LOG_FILE" 2>&1
}

# ---------------------------------------------------------------------------------------------
# host tools

apt_updated=0
apt_install() {
  [ "$(id -u)" = 0 ] || fail "missing packages: $* (install them: apt-get install -y $*)"
  if [ "$apt_updated" = 0 ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    apt_updated=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1
}

reflect2_version() { dpkg-query -W -f='${Version}' "$REFLECT2_PKG" 2>/dev/null || true; }

ensure_tools() {
  STEP="ensure host tools"
  "$SCRIPT_DIR/../ensure-host.sh" kubernetes-tools
  local missing=()
  command -v make >/dev/null 2>&1 || missing+=(make)
  command -v patch >/dev/null 2>&1 || missing+=(patch)
  command -v flock >/dev/null 2>&1 || missing+=(util-linux)
  command -v readelf >/dev/null 2>&1 || missing+=(binutils)
  { [ -f "$REFLECT2_DIR/reflect2.go" ] && [ -n "$(reflect2_version)" ]; } || missing+=("$REFLECT2_PKG")
  if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi
  local v; v=$(reflect2_version)
  dpkg --compare-versions "$v" ge "$REFLECT2_MIN" \
    || fail "$REFLECT2_PKG $v is older than $REFLECT2_MIN (reflect2 1.0.1 crashes kubeadm under Go >= 1.18)"
}

# ---------------------------------------------------------------------------------------------
# source package: mirror from the host's apt config, private apt state, download cache

# Prints "URI<TAB>SIGNED_BY" of the host's Debian entry for $SUITE (deb822 first, then one-line).
host_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$SUITE" '
      function flush() {
        if (types ~ /(^|[ \t])deb([ \t]|$)/ && (" " suites " ") ~ ("[ \t]" suite "[ \t]") &&
            tolower(enabled) != "no" && uri != "") { print uri "\t" signed; found = 1; exit }
        types = suites = uri = signed = enabled = ""
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      /^[^ \t]/ {
        key = tolower($1); sub(/:$/, "", key); val = $0; sub(/^[^:]*:[ \t]*/, "", val)
        if (key == "types") types = val
        else if (key == "suites") suites = val
        else if (key == "uris") { split(val, u, /[ \t]+/); uri = u[1] }
        else if (key == "signed-by") signed = (val ~ /^\//) ? val : ""
        else if (key == "enabled") enabled = val
      }
      END { if (!found) flush() }
    ' "$f" | head -n 1 | grep . && return 0
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v suite="$SUITE" '
      $1 != "deb" { next }
      {
        signed = ""; i = 2
        if ($2 ~ /^\[/) {
          while (i <= NF) {
            o = $i; gsub(/[\[\]]/, "", o)
            if (o ~ /^signed-by=/) { sub(/^signed-by=/, "", o); signed = o }
            if ($i ~ /\]$/) { i++; break }
            i++
          }
        }
        if ($(i + 1) == suite) { print $i "\t" signed; exit }
      }
    ' "$f" | head -n 1 | grep . && return 0
  done
  return 1
}

# Highest-versioned .dsc in the download cache (empty if none).
cached_dsc() {
  local best="" bestv="" f v
  for f in "$SRC_CACHE"/"${SRC_PACKAGE}"_*.dsc; do
    [ -f "$f" ] || continue
    v=$(dsc_version "$f")
    if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$bestv"; then best=$f bestv=$v; fi
  done
  printf '%s' "$best"
}
dsc_version() { sed -n 's/^Version:[ \t]*//p' "$1" | head -n 1; }

download_source() {
  STEP="find the Debian mirror in the host's apt configuration"
  local line uri signed
  line=$(host_mirror) || fail "no 'deb' entry for suite $SUITE in /etc/apt/sources.list{,.d/} (needed to fetch the $SRC_PACKAGE source package)"
  uri=${line%%$'\t'*} signed=${line#*$'\t'}
  if [ -z "$signed" ] && [ -f /usr/share/keyrings/debian-archive-keyring.gpg ]; then
    signed=/usr/share/keyrings/debian-archive-keyring.gpg
  fi
  log "source package from the host's Debian mirror (deb-src $SUITE, private apt state)"

  local apt; apt=$(mktemp -d "${TMPDIR:-/tmp}/hakubelab-apt.XXXXXX"); TMP_DIRS+=("$apt")
  mkdir -p "$apt/sources.d" "$apt/lists/partial" "$apt/cache/archives/partial"
  {
    echo "Types: deb-src"
    echo "URIs: $uri"
    echo "Suites: $SUITE"
    echo "Components: main"
    if [ -n "$signed" ]; then echo "Signed-By: $signed"; fi
  } >"$apt/sources.d/hakubelab-src.sources"
  local opts=(-o "Dir::Etc::sourcelist=/dev/null" -o "Dir::Etc::sourceparts=$apt/sources.d"
              -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
              -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" -o "Debug::NoLocking=1")
  if [ "$(id -u)" = 0 ]; then opts+=(-o "APT::Sandbox::User=root"); fi

  STEP="apt-get update (private deb-src list)"
  apt-get "${opts[@]}" -q update >"$apt/update.log" 2>&1 || { cat "$apt/update.log" >&2; false; }

  # Download into a partial dir and move the files into the cache only when all arrived.
  STEP="apt-get source --download-only $SRC_PACKAGE"
  mkdir -p "$SRC_CACHE"
  local part="$SRC_CACHE/.partial.$$"; TMP_DIRS+=("$part")
  mkdir -p "$part"
  # reuse files we already have (apt-get source skips files whose checksums already match)
  cp -l "$SRC_CACHE"/"${SRC_PACKAGE}"_* "$part"/ 2>/dev/null || true
  (cd "$part" && apt-get "${opts[@]}" -q source --download-only "$SRC_PACKAGE") >"$apt/source.log" 2>&1 \
    || { cat "$apt/source.log" >&2; false; }
  local f
  for f in "$part"/*; do [ -f "$f" ] && mv -f "$f" "$SRC_CACHE"/; done
}

# ---------------------------------------------------------------------------------------------
# cache key

compute_key() {
  local dsc=$1
  KEY_TEXT=$(
    echo "package=$SRC_PACKAGE $(dsc_version "$dsc")"
    echo "dsc-sha256=$(sha256sum <"$dsc" | cut -d' ' -f1)"
    echo "script-sha256=$(sha256sum <"$SCRIPT_PATH" | cut -d' ' -f1)"
    if [ -d "$SCRIPT_DIR/patches" ]; then
      local p
      for p in "$SCRIPT_DIR"/patches/*.patch; do
        [ -f "$p" ] && echo "patch $(basename "$p") sha256=$(sha256sum <"$p" | cut -d' ' -f1)"
      done
    fi
    echo "go=$(go version)"
    echo "gcc=$(gcc -dumpfullversion 2>/dev/null || gcc -dumpversion)"
    echo "reflect2=$(reflect2_version)"
    echo "binaries=${BINARIES[*]} pause"
    echo "env=${GO_ENV[*]}"
    echo "build-flags=${GO_BUILD_FLAGS[*]} -ldflags=$GO_LDFLAGS_BASE +version vars"
    echo "pause-cflags=$PAUSE_CFLAGS"
  )
  KEY=$(printf '%s\n' "$KEY_TEXT" | sha256sum | cut -c1-24)
}

# ---------------------------------------------------------------------------------------------
# the build

# Reads the version the tree declares (a `git archive` export fills in hack/lib/version.sh).
tree_version() {
  local tree=$1
  GIT_VERSION=$(sed -n "s/.*if \[\[ 'tag: \(v[0-9][^ ,']*\)'.*/\1/p" "$tree/hack/lib/version.sh" | head -n 1)
  GIT_COMMIT=$(sed -n "s/^ *KUBE_GIT_COMMIT='\([0-9a-f]\{40\}\)'.*/\1/p" "$tree/hack/lib/version.sh" | head -n 1)
}

build() {
  local dsc=$1 final=$2
  local debver; debver=$(dsc_version "$dsc")
  local stage="$K8S_CACHE/.stage-$KEY.$$"
  TMP_DIRS+=("$stage")
  rm -rf -- "$WORK" "$stage"
  mkdir -p "$WORK" "$stage/bin" "$GOCACHE_DIR"
  LOG_FILE="$WORK/build.log"
  : >"$LOG_FILE"
  log "building Kubernetes from $SRC_PACKAGE $debver (cache key $KEY; log $LOG_FILE)"

  local gopath="$WORK/gopath" tree="$WORK/gopath/src/k8s.io/kubernetes"
  mkdir -p "$(dirname "$tree")"
  local t0=$SECONDS
  step "unpack source package (dpkg-source -x, Debian patches applied)" \
    dpkg-source --no-copy -x "$dsc" "$tree"
  local unpack_s=$((SECONDS - t0))

  # Version: from the tree (git-archive substitution) and from the Debian version; both must agree.
  STEP="check the Kubernetes version of the source tree"
  tree_version "$tree"
  [ -n "$GIT_VERSION" ] || fail "cannot read the Kubernetes version from $tree/hack/lib/version.sh"
  local upstream=${debver#*:}; upstream=${upstream%-*}; upstream=${upstream##*really}
  [ "v$upstream" = "$GIT_VERSION" ] \
    || fail "Debian version $debver (upstream $upstream) disagrees with the tree's version $GIT_VERSION"
  [[ "$GIT_VERSION" =~ ^v1\.20\.[0-9]+$ ]] || fail "source tree is Kubernetes $GIT_VERSION, not v1.20.x"
  [ "$GIT_VERSION" = "$EXPECTED_VERSION" ] \
    || log "warning: tree is $GIT_VERSION, the lab was tested with $EXPECTED_VERSION"
  if [ -z "$GIT_COMMIT" ]; then GIT_COMMIT="debian-$debver"; fi
  local major minor
  major=${GIT_VERSION#v}; major=${major%%.*}
  minor=${GIT_VERSION#v*.}; minor=${minor%%.*}
  log "tree is Kubernetes $GIT_VERSION (commit $GIT_COMMIT)"

  if [ -d "$SCRIPT_DIR/patches" ]; then
    local p
    for p in "$SCRIPT_DIR"/patches/*.patch; do
      [ -f "$p" ] || continue
      step "apply patch $(basename "$p")" patch -d "$tree" -p1 --forward --batch -i "$p"
    done
  fi

  STEP="replace vendored reflect2 1.0.1 with Debian's $(reflect2_version)"
  log "$STEP"
  local r2="$tree/vendor/github.com/modern-go/reflect2"
  [ -d "$r2" ] || fail "$r2 not found in the source tree"
  rm -f "$r2"/*.go "$r2"/*.s
  cp "$REFLECT2_DIR"/*.go "$r2"/
  if compgen -G "$REFLECT2_DIR/*.s" >/dev/null; then cp "$REFLECT2_DIR"/*.s "$r2"/; fi
  rm -f "$r2"/*_test.go

  export GOPATH="$gopath" GOCACHE="$GOCACHE_DIR"
  export "${GO_ENV[@]}"
  unset GOBIN GOROOT

  # make generated_files compiles its generators with GOCACHE=_output/local/go/cache (forced by
  # hack/lib/golang.sh); point that at the persistent cache too, so a rebuild reuses them.
  mkdir -p "$tree/_output/local/go"
  ln -sfn "$GOCACHE_DIR" "$tree/_output/local/go/cache"
  t0=$SECONDS
  step "make generated_files" make -C "$tree" generated_files
  local gen_s=$((SECONDS - t0))

  local build_date; build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  local ldflags="$GO_LDFLAGS_BASE" pkg kv
  for pkg in k8s.io/kubernetes/vendor/k8s.io/component-base/version k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version; do
    for kv in "gitVersion=$GIT_VERSION" "gitMajor=$major" "gitMinor=$minor" "gitCommit=$GIT_COMMIT" \
              "gitTreeState=clean" "buildDate=$build_date"; do
      ldflags+=" -X $pkg.$kv"
    done
  done

  local -A secs=()
  local b
  cd "$tree"
  for b in "${BINARIES[@]}"; do
    t0=$SECONDS
    step "building $b" go build "${GO_BUILD_FLAGS[@]}" -ldflags "$ldflags" -o "$stage/bin/$b" "k8s.io/kubernetes/cmd/$b"
    secs[$b]=$((SECONDS - t0))
    log "built $b in ${secs[$b]} s ($(du -m "$stage/bin/$b" | cut -f1) MB)"
  done

  local tag; tag=$(sed -n 's/^TAG[ \t]*?\{0,1\}=[ \t]*//p' "$tree/build/pause/Makefile" | head -n 1)
  t0=$SECONDS
  # shellcheck disable=SC2086 # PAUSE_CFLAGS is a list of flags
  step "building pause (gcc -static build/pause/linux/pause.c)" \
    gcc $PAUSE_CFLAGS "-DVERSION=v${tag:-unknown}-k8s-$GIT_VERSION" -o "$stage/bin/pause" "$tree/build/pause/linux/pause.c"
  secs[pause]=$((SECONDS - t0))
  cd "$K8S_CACHE"

  # Smoke tests: static, right version, and kubeadm survives the code path reflect2 1.0.1 crashed on.
  STEP="check the binaries"
  log "$STEP"
  for b in "${BINARIES[@]}" pause; do
    [ -x "$stage/bin/$b" ] || fail "$b was not built"
    if readelf -lW "$stage/bin/$b" | grep -q 'program interpreter'; then fail "$b is not statically linked"; fi
  done
  local v; v=$("$stage/bin/kubeadm" version -o short 2>>"$LOG_FILE") || fail "kubeadm version failed"
  [ "$v" = "$GIT_VERSION" ] || fail "kubeadm reports version '$v', expected $GIT_VERSION"
  step "smoke test: kubeadm config print init-defaults" "$stage/bin/kubeadm" config print init-defaults
  step "smoke test: kubeadm config images list" "$stage/bin/kubeadm" config images list --kubernetes-version "$GIT_VERSION"
  step "smoke test: kubectl version --client" "$stage/bin/kubectl" version --client

  STEP="write the cache entry"
  echo "$GIT_VERSION" >"$stage/VERSION"
  printf '%s\n' "$KEY_TEXT" >"$stage/key.txt"
  {
    printf '{\n'
    printf '  "kubernetesVersion": "%s",\n' "$GIT_VERSION"
    printf '  "gitCommit": "%s",\n' "$GIT_COMMIT"
    printf '  "debianSourceVersion": "%s",\n' "$debver"
    printf '  "goVersion": "%s",\n' "$(go env GOVERSION)"
    printf '  "buildDate": "%s",\n' "$build_date"
    printf '  "cacheKey": "%s",\n' "$KEY"
    printf '  "stepSeconds": { "unpack": %d, "generatedFiles": %d },\n' "$unpack_s" "$gen_s"
    printf '  "binaries": {\n'
    local all=("${BINARIES[@]}" pause) i
    for i in "${!all[@]}"; do
      b=${all[$i]}
      printf '    "%s": { "buildSeconds": %d, "bytes": %d }%s\n' "$b" "${secs[$b]}" \
        "$(stat -c %s "$stage/bin/$b")" "$([ "$i" -lt $((${#all[@]} - 1)) ] && echo ,)"
    done
    printf '  },\n'
    printf '  "totalSeconds": %d\n' $((SECONDS - START))
    printf '}\n'
  } >"$stage/build.json"
  cp "$LOG_FILE" "$stage/build.log"
  touch "$stage/.complete"

  # Publish atomically: the entry appears complete or not at all.
  rm -rf -- "$final"
  mv -T "$stage" "$final"
  LOG_FILE=/dev/null
  rm -rf -- "$WORK"
  log "done in $(elapsed): $final"
}

# ---------------------------------------------------------------------------------------------

main() {
  ensure_tools
  mkdir -p "$K8S_CACHE"

  local dsc; dsc=$(cached_dsc)
  if [ -n "$dsc" ] && [ "$refresh" = 0 ] && [ "$force" = 0 ]; then
    compute_key "$dsc"
    if [ -f "$K8S_CACHE/$KEY/.complete" ]; then
      printf '%s\n' "$K8S_CACHE/$KEY"
      return 0
    fi
  fi

  # One build at a time per cache root.
  STEP="lock $K8S_CACHE/.lock"
  exec 9>"$K8S_CACHE/.lock"
  if ! flock -n 9; then
    log "another build holds $K8S_CACHE/.lock; waiting"
    flock 9
  fi

  if [ -z "$dsc" ] || [ "$refresh" = 1 ]; then
    download_source
    dsc=$(cached_dsc)
    [ -n "$dsc" ] || fail "apt-get source left no ${SRC_PACKAGE}_*.dsc in $SRC_CACHE"
  else
    log "using cached source package $(basename "$dsc")"
  fi
  compute_key "$dsc"
  local final="$K8S_CACHE/$KEY"
  if [ -f "$final/.complete" ] && [ "$force" = 0 ]; then
    log "cache hit"
  else
    build "$dsc" "$final"
  fi
  STEP="done"
  printf '%s\n' "$final"
}

main
