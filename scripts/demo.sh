#!/usr/bin/env bash
# `make demo`: the pipeline end to end on the local stack (conf/local.yaml).
# Each stage (profile job, model, scoring job, feedback loop) adds its step here.
set -euo pipefail
cd "$(dirname "$0")/.."
ADS=.venv/bin/adstream
PY=.venv/bin/python
WORLD=.work/data/world
LOGS=.work/logs
mkdir -p "$LOGS"
JOBS=()
stop_jobs() { for pid in "${JOBS[@]}"; do kill -- "-$pid" 2>/dev/null || true; done; }
trap stop_jobs EXIT
# Each stage prints how long the one before it took, so a slow first run shows where.
T_STAGE=$SECONDS; T_DEMO=$SECONDS
stage() {
  [ "$T_STAGE" = "$T_DEMO" ] && [ "$1" = 1. ] || echo "   (stage took $((SECONDS - T_STAGE)) s)"
  T_STAGE=$SECONDS; echo "== $* =="
}

stage 1. "synthetic world (seeded)"
$ADS generate --out "$WORLD"

stage 2. "replay it to Kafka"
$ADS replay --source world --world "$WORLD"
$ADS stack topics

stage 3. "profile job: clickstream -> Feast online store (log: $LOGS/profile.log)"
$ADS features apply >/dev/null
setsid $ADS job profile >"$LOGS/profile.log" 2>&1 &
JOBS+=($!)
$PY -m scripts.demo_profiles --world "$WORLD" --users 3

stage 4. "CTR model: train on the world, promote it (feedback job starting: $LOGS/feedback.log)"
# Started here, so its JVM start does not compete with the scoring demo's latency; from the
# latest offsets, so it attributes this demo's traffic, not the replayed world's history.
FEEDBACK_FROM=$(($(date +%s) * 1000))
setsid $ADS job feedback --from latest >"$LOGS/feedback.log" 2>&1 &
JOBS+=($!)
$ADS model train --format synthetic --data "$WORLD" --out .work/runs/demo --budget 3 --no-progress | tail -4
$ADS model promote .work/runs/demo --reason "make demo" || echo "(promotion refused: the current model keeps serving)"

stage 5. "scoring job: ad requests -> ranked ads + served log (log: $LOGS/scoring.log)"
setsid $ADS job scoring --catalog "$WORLD/catalog.json" >"$LOGS/scoring.log" 2>&1 &
JOBS+=($!)
# The simulated site shows the demo's answers and reports impressions, clicks, conversions.
setsid $ADS site --world "$WORLD" --idle 20 --drain 15 --progress 0 >"$LOGS/site.log" 2>&1 &
SITE=$!
JOBS+=($SITE)
$PY -m scripts.demo_scoring --world "$WORLD" --requests 500 --rate 50

stage 6. "feedback loop: the site's events -> attribution, statistics, spend (logs: $LOGS/site.log, $LOGS/feedback.log)"
wait "$SITE" || echo "(the site simulator stopped with an error: $LOGS/site.log)"
tail -n 6 "$LOGS/site.log" | sed 's/^/   site: /'
$PY -m scripts.demo_feedback --world "$WORLD" --top 5 --since-ms "$FEEDBACK_FROM"
echo "   (stage took $((SECONDS - T_STAGE)) s)"
echo "demo done in $((SECONDS - T_DEMO)) s"
