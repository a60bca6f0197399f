#!/usr/bin/env bash
# `make demo`: the pipeline end to end on the local stack (conf/local.yaml).
# Each later stage (profile job, model, scoring job) adds its step here.
set -euo pipefail
cd "$(dirname "$0")/.."
ADS=.venv/bin/adstream
WORLD=.work/data/world

echo "== 1. synthetic world (seeded) =="
$ADS generate --out "$WORLD"

echo "== 2. replay it to Kafka =="
$ADS replay --source world --world "$WORLD"

echo "== 3. what landed, per topic =="
$ADS stack topics
