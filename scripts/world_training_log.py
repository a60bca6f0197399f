"""Write a synthetic world's impressions as a training log, to try or measure `adstream model retrain`.

``python -m scripts.world_training_log --world DIR [--out URI] [--end-at-now]``. The feedback job
writes the real log, a row 31 minutes of event time after its impression; this writes the rows it
would have written for a world from ``adstream generate`` at once: features rebuilt as the scorer
computed them at request time (models/datasets/synthetic.py, the replay ``model train --format
synthetic`` uses), clicks labelled within ``model.click_window_s``, one ``TrainingRow`` per
impression through the store's own writer into ``feedback.training_log`` (or ``--out``).
Differences from the job's rows, stated in each row: ``model_version`` is ``world-replay`` (no
model ranked them), ``pctr`` is the request-time ``ad_ctr_prior`` (what the rule-based fallback
would have used), ``campaign_id`` is the creative's, conversions are not carried.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from models.datasets.synthetic import load_synthetic
from udfs import config
from udfs.core.features import feature_set_id
from udfs.io.training_log_store import TrainingLogWriter
from udfs.messages import TrainingRow


def rows_of(ds, shift_ms: int, click_window_ms: int):
    X = ds.X.to_numpy(np.float32)
    fs, prior = feature_set_id(ds.features), ds.X["ad_ctr_prior"].to_numpy(np.float64)
    rank = np.clip(ds.segments["position"].astype(int), 1, 50)
    for i in range(len(X)):
        ts = int(ds.ts[i]) + shift_ms
        yield TrainingRow(impression_id=f"w-{i}", request_id=f"w-r{i}", user_id=None, ts=ts,
                          campaign_id=str(ds.prior_key[i]), creative_id=str(ds.prior_key[i]), bid_type="CPC",
                          rank=int(rank[i]), model_version="world-replay", variant="replay",
                          pctr=float(np.clip(prior[i], 0.0, 1.0)), feature_set=fs, features=tuple(X[i].tolist()),
                          clicked=bool(ds.y[i]), conversions=0, conversion_value=0.0, revision=0,
                          labelled_ts=ts + click_window_ms)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--world", required=True, help="folder written by 'adstream generate'")
    p.add_argument("--out", help="training-log store URI or path (default feedback.training_log)")
    p.add_argument("--end-at-now", action="store_true",
                   help="shift every time so the last impression is now (then --since 6h means what it says)")
    p.add_argument("--env", default=None)
    p.add_argument("--set", action="append", default=[], dest="overrides", metavar="KEY=VALUE")
    a = p.parse_args(argv)
    cfg = config.load(a.env, overrides=a.overrides + ([f"feedback.training_log={a.out}"] if a.out else []))
    t0 = time.perf_counter()
    ds = load_synthetic(a.world, cfg, progress=False)
    shift = int(time.time() * 1000) - int(ds.ts.max()) if a.end_at_now else 0
    uri = cfg.feedback.training_log_uri
    paths = TrainingLogWriter(uri).write(rows_of(ds, shift, cfg.model.click_window_s * 1000), "world")
    print(f"{len(ds.X):,} rows ({int(ds.y.sum()):,} clicks), {ds.ts.min() + shift} .. {ds.ts.max() + shift} "
          f"epoch ms, into {len(paths)} hour files under {uri} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
