#!/usr/bin/env bash
# Set up everything adstream needs, from nothing; a second run does nothing.
#   .venv/          virtualenv with every package pinned by constraints.txt
#   redis-server    Debian's package, when missing (as root, or through sudo)
#   .jars/          Kafka broker + Flink Kafka connector from Maven Central
# Each step is skipped when its stamp matches the hash of the files that define it.
# `scripts/setup.sh STEP…` runs only the named steps (venv, redis, jars); tests use it
# to run each branch against stand-in tools (tests/unit/test_setup_script.py).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

# Runs one step and prints how long it took, so a slow first run shows where its time goes.
timed() {
  local name=$1 t0=$SECONDS
  "step_$name"
  say "step $name done in $((SECONDS - t0)) s"
}

# 1. virtualenv + pinned packages
# The editable install maps top-level packages when installed: a new package means reinstall.
step_venv() {
  local want
  want=$( (cat constraints.txt setup.cfg pyproject.toml; ls -d */__init__.py) | sha256sum | cut -c1-16)
  if [ "$(cat .venv/.stamp 2>/dev/null)" = "$want" ]; then
    say "python packages up to date"; return
  fi
  command -v "$PY" >/dev/null || die "no python3.11 or python3 on PATH: install Python 3.11 (apt-get install python3.11-venv) or set PYTHON=/path/to/python3.11"
  [ -x .venv/bin/python ] || { say "creating .venv with $("$PY" --version 2>&1)"; "$PY" -m venv .venv; }
  say "installing pinned Python packages (first time: several minutes)"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -c constraints.txt -e ".[all]"
  echo "$want" > .venv/.stamp
}

# 2. redis-server from Debian. Root runs apt-get itself; anyone else goes through sudo.
# `env` carries DEBIAN_FRONTEND through sudo and also works where no sudo is in front
# (a bare `VAR=value` after an empty $SUDO would be run as a command).
step_redis() {
  if command -v redis-server >/dev/null; then
    say "redis-server present ($(redis-server --version | awk '{print $3}'))"; return
  fi
  local -a as_root=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "redis-server is missing and this user is not root and has no sudo. Ask an administrator to run: apt-get install redis-server — then run make again."
    as_root=(sudo)
  fi
  command -v apt-get >/dev/null || die "redis-server is missing and there is no apt-get here (adstream expects Debian). Install redis-server (7.x) with this system's package manager so that it is on PATH, then run make again."
  say "installing Debian's redis-server${as_root:+ (through sudo)}"
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
    || die "apt-get update failed (see above); fix the package sources or install redis-server by hand"
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null \
    || die "apt-get install redis-server failed (see above); install it by hand and run make again"
  command -v redis-server >/dev/null || die "apt-get reported success but redis-server is still not on PATH"
  # Debian starts a system redis on 6379; we start our own per config, so stop theirs.
  ( "${as_root[@]}" systemctl disable --now redis-server 2>/dev/null \
    || "${as_root[@]}" service redis-server stop 2>/dev/null ) >/dev/null 2>&1 || true
}

# 3. JVM artifacts
step_jars() {
  local want
  want=$(hash_of scripts/jvm/pom.xml)
  if [ "$(cat .jars/.stamp 2>/dev/null)" = "$want" ]; then
    say "jars up to date"; return
  fi
  command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch the Kafka and Flink jars: apt-get install maven, then run make again"
  say "fetching Kafka broker and Flink Kafka connector jars from Maven Central"
  rm -rf .jars && mkdir -p .jars
  (cd scripts/jvm &&
   mvn -q -B dependency:copy-dependencies -DoutputDirectory="$ROOT/.jars/kafka" -DincludeScope=runtime \
       -DexcludeArtifactIds=flink-sql-connector-kafka &&
   mvn -q -B dependency:copy-dependencies -DoutputDirectory="$ROOT/.jars/flink" \
       -DincludeArtifactIds=flink-sql-connector-kafka) || die "mvn could not fetch the jars (see above)"
  echo "$want" > .jars/.stamp
}

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(venv redis jars)
t_all=$SECONDS
for s in "${steps[@]}"; do
  case $s in
    venv|redis|jars) timed "$s" ;;
    *) die "unknown step '$s' (steps: venv redis jars)" ;;
  esac
done
say "ready in $((SECONDS - t_all)) s"
