#!/usr/bin/env bash
# Set up everything adstream needs, from nothing; a second run does nothing.
#   .venv/          virtualenv with every package pinned by constraints.txt
#   redis-server    Debian's package, when missing (needs root or sudo)
#   .jars/          Kafka broker + Flink Kafka connector from Maven Central
# Each step is skipped when its stamp matches the hash of the files that define it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3

say() { printf '[setup] %s\n' "$*"; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

# 1. virtualenv + pinned packages
# The editable install maps top-level packages when installed: a new package means reinstall.
want=$( (cat constraints.txt setup.cfg pyproject.toml; ls -d */__init__.py) | sha256sum | cut -c1-16)
if [ "$(cat .venv/.stamp 2>/dev/null)" != "$want" ]; then
  [ -x .venv/bin/python ] || { say "creating .venv with $($PY --version)"; "$PY" -m venv .venv; }
  say "installing pinned Python packages (first time ~2 min)"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -c constraints.txt -e ".[all]"
  echo "$want" > .venv/.stamp
else
  say "python packages up to date"
fi

# 2. redis-server from Debian
if ! command -v redis-server >/dev/null; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  say "installing Debian's redis-server"
  $SUDO apt-get update -qq && $SUDO DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  # Debian starts a system redis on 6379; we start our own per config, so stop theirs.
  ( $SUDO systemctl disable --now redis-server 2>/dev/null || $SUDO service redis-server stop 2>/dev/null ) || true
else
  say "redis-server present ($(redis-server --version | awk '{print $3}'))"
fi

# 3. JVM artifacts
want=$(hash_of scripts/jvm/pom.xml)
if [ "$(cat .jars/.stamp 2>/dev/null)" != "$want" ]; then
  command -v mvn >/dev/null || { say "Maven (mvn) is needed to fetch the Kafka and Flink jars"; exit 1; }
  say "fetching Kafka broker and Flink Kafka connector jars from Maven Central"
  rm -rf .jars && mkdir -p .jars
  (cd scripts/jvm &&
   mvn -q -B dependency:copy-dependencies -DoutputDirectory="$ROOT/.jars/kafka" -DincludeScope=runtime \
       -DexcludeArtifactIds=flink-sql-connector-kafka &&
   mvn -q -B dependency:copy-dependencies -DoutputDirectory="$ROOT/.jars/flink" \
       -DincludeArtifactIds=flink-sql-connector-kafka)
  echo "$want" > .jars/.stamp
else
  say "jars up to date"
fi
say "ready"
