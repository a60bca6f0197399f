"""The demo's last step: stream the world's ad requests at the running scoring job and show
what comes back — a few ranked responses and the latency, end to end and per stage.

The requests are the generated world's own (``requests.jsonl``: real users, contexts
and times) under fresh request ids, so their answers are told apart from the
replayed ones the job may still be working through; the script first waits until
the job answers a probe (i.e. has caught up).

    .venv/bin/python scripts/demo_scoring.py --world .work/data/world --requests 500 --rate 50
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from scripts.bench.scoring_load import Responses, run_phase, wait_ready  # noqa: E402
from models.datasets import world_layout as layout  # noqa: E402
from udfs import config  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--world", required=True, help="folder written by `adstream generate`")
    p.add_argument("--requests", type=int, default=500)
    p.add_argument("--rate", type=float, default=50.0, help="requests per second")
    p.add_argument("--sample", type=int, default=3, help="responses to print")
    p.add_argument("--env", default=None)
    p.add_argument("--set", action="append", default=[], dest="overrides")
    a = p.parse_args(argv)
    cfg = config.load(a.env, overrides=a.overrides)
    lines = layout.stream(a.world, "requests").read_text().splitlines()
    src = iter(lines * (a.requests // max(len(lines), 1) + 1))
    tag = uuid.uuid4().hex[:6]

    def make(rid: str) -> bytes:
        d = json.loads(next(src))
        d["request_id"] = rid
        return json.dumps(d, separators=(",", ":")).encode()

    responses = Responses(cfg)
    try:
        print("waiting for the scoring job to answer (it may be working through a backlog) ...", flush=True)
        waited = wait_ready(cfg, responses, make, timeout_s=600)
        print(f"  answered after {waited:.1f}s; sending {a.requests} requests at {a.rate:.0f}/s", flush=True)
        ph = run_phase(cfg, responses, make, rate=a.rate, duration=a.requests / a.rate, warmup=0,
                       prefix=f"demo-{tag}", drain_s=60)
        answers = [responses.get(f"demo-{tag}-{i}") for i in range(a.requests)]
        got = [d for _, d in filter(None, answers)]
    finally:
        responses.close()
    personal = [d for d in got if not d["fallback"] and d["ads"]]
    shown = (personal or got)[:a.sample]
    print(f"\n== {len(shown)} ranked responses ==")
    for d in shown:
        print(f"request {d['request_id']}  model {d['model_version']}  variant {d['variant']}  "
              f"fallback {d['fallback']}  total {d['timings_ms'].get('total', 0):.2f} ms")
        for ad in d["ads"]:
            print(f"  #{ad['rank']} {ad['creative_id']:<9} campaign {ad['campaign_id']:<8} "
                  f"adv {ad['advertiser_id']:<6} pCTR {ad['pctr']:.4f}  eCPM {ad['ecpm']:8.3f}  "
                  f"price {ad['price']:.4f}")
    lat = np.asarray(ph.latencies_ms)
    print(f"\n== latency, request produced → response consumed ({len(lat)}/{ph.sent} answered) ==")
    if len(lat):
        print("  end to end   p50 %.2f  p90 %.2f  p99 %.2f  max %.2f ms" % (
            *np.percentile(lat, [50, 90, 99]), lat.max()))
    for k in ("features", "eligible", "caps", "featurize", "model", "auction", "total"):
        v = [t.get(k, 0.0) for t in ph.timings]
        if v:
            print(f"  job {k:<9} p50 {np.percentile(v, 50):.3f}  p99 {np.percentile(v, 99):.3f} ms")
    reasons = collections.Counter(d["fallback_reason"] or "personal" for d in got)
    print("\n== answers by kind ==")
    for r, n in reasons.most_common():
        print(f"  {n:5d}  {r}")
    return 0 if len(got) == a.requests else 1


if __name__ == "__main__":
    raise SystemExit(main())
