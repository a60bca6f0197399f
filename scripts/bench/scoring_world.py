"""The scoring benchmark's world: users with profiles, 100 eligible creatives, a served model,
and the floors measured on it (Kafka alone, one profile read alone — Feast's and the job's
direct one — and one ONNX call alone).

Separate from ``bench_scoring.py`` so the benchmark file stays about phases and figures.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from udfs.config import Config
from udfs.core.features import model_feature_names

CATEGORIES = [f"c{i:02d}" for i in range(20)]
N_USERS = 5000
T_REQ = 1_764_547_200_000 + 14 * 3_600_000


@dataclass
class World:
    users: list[str]
    candidates: int
    model_dir: Path
    model_info: dict
    rng: np.random.Generator

    def request(self, rid: str) -> bytes:
        u = self.users[int(self.rng.integers(len(self.users)))]
        page = CATEGORIES[int(self.rng.integers(len(CATEGORIES)))]
        # consent stated: under the opt-in default a request without it is answered contextually
        return json.dumps({"schema": "ad_request", "v": 2, "request_id": rid, "user_id": u, "ts": T_REQ,
                           "slot": "feed", "num_ads": 4,
                           "context": {"device": "mobile", "geo": "DE", "page_category": page},
                           "consent": {"personalisation": True, "measurement": True}},
                          separators=(",", ":")).encode()


def write_experiment(tmp: Path) -> Path:
    """An experiments file (docs/experiments.md) whose window holds the benchmark's requests:
    every user in one of two variants, the second exploring and with its own reserve."""
    path = tmp / "experiments.yaml"
    path.write_text("experiments:\n"
                    "  - {name: bench, salt: bench-1, start: '2025-11-30T00:00:00Z', stop: '2025-12-02T00:00:00Z',\n"
                    "     variants: [{name: control, share: 0.5},\n"
                    "                {name: explore, share: 0.5, exploration: 0.1, reserve_ecpm: 0.4}]}\n")
    return path


def catalogue(n: int = 100) -> dict:
    """``n`` creatives, one per campaign, two campaigns per advertiser, nobody targeted."""
    rng = np.random.default_rng(3)
    kinds = ["CPM"] * 3 + ["CPC"] * 5 + ["CPA"] * 2
    advs, camps, crs = [], [], []
    for i in range(n):
        adv, cid, bt = f"adv{i // 2:03d}", f"cmp{i:03d}", kinds[i % len(kinds)]
        if i % 2 == 0:
            advs.append({"advertiser_id": adv})
        bid = {"CPM": rng.uniform(1, 6), "CPC": rng.uniform(0.05, 0.4), "CPA": rng.uniform(2, 15)}[bt]
        camps.append({"campaign_id": cid, "advertiser_id": adv, "daily_budget": 1e6, "bid_type": bt,
                      "bid": round(float(bid), 3)})
        crs.append({"creative_id": f"cr{i:03d}", "ad_id": f"ad{i:03d}", "campaign_id": cid,
                    "advertiser_id": adv, "item_id": f"i{i}", "category_id": CATEGORIES[i % 20],
                    "brand_id": f"b{i % 7}", "price": round(float(rng.uniform(5, 200)), 2),
                    "title": f"Offer number {i}", "landing_url": f"https://shop.example/{i}",
                    "review_status": "approved"})
    return {"advertisers": advs, "campaigns": camps, "creatives": crs}


def write_profiles(cfg: Config, users: list[str], rng: np.random.Generator) -> None:
    from udfs.io import feast_store
    from udfs.core import profile as P
    p = P.ProfileParams.from_config(cfg.profile.windows)
    writer = feast_store.make_writer(cfg)
    rows = []
    for u in users:
        cats = rng.choice(CATEGORIES, 3, replace=False)
        evs = [P.EventView(T_REQ - int(rng.integers(60_000, 20 * 3_600_000)),
                           str(rng.choice(["view"] * 6 + ["cart", "fav", "purchase"])),
                           str(rng.choice(cats)), "b1", float(rng.uniform(5, 200))) for _ in range(12)]
        st = P.build(sorted(evs, key=lambda e: e.ts), p)
        rows.append((u, P.snapshot(st, p), feast_store.version_timestamp(st.last_event_ts * 1000)))
    for i in range(0, len(rows), 500):
        writer.write(rows[i:i + 500])


def production_size_model(cfg: Config, out: Path) -> None:
    """An XGBoost model at the configured trees x depth cap, exported to ONNX like a trained one."""
    import xgboost as xgb

    from models import export
    w = tuple(cfg.profile.windows.count_windows_s)
    names = model_feature_names(w)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, len(names))).astype(np.float32)
    z = -3.5 + X[:, :6] @ rng.normal(0, 0.5, 6)
    y = (rng.random(len(X)) < 1 / (1 + np.exp(-z))).astype(np.float32)
    depth = 6
    rounds = max(cfg.model.max_depth_sum // depth, 1) if cfg.model.max_depth_sum else 75
    b = xgb.train({"objective": "binary:logistic", "max_depth": depth, "eta": 0.1, "nthread": 2,
                   "tree_method": "hist", "seed": 0}, xgb.DMatrix(X, y), rounds)
    export.export(out, b, X[:500], names=names, live_windows=w, feature_service=cfg.feast.feature_service,
                  fingerprint="b" * 64, dataset="bench", metrics={},
                  calibration={"method": "none", "shift": 0.0}, params={"max_depth": depth})


def build(cfg: Config, tmp: Path, model: str | None = None) -> World:
    from models.registry import Registry
    from udfs.io import feast_store
    feast_store.apply(cfg)
    rng = np.random.default_rng(11)
    users = [f"bench-u{i:05d}" for i in range(N_USERS)]
    write_profiles(cfg, users, rng)
    doc = catalogue()
    Path(cfg.scoring_job.catalog_file).write_text(json.dumps(doc))
    src = Path(model) if model else tmp / "model"
    if not model:
        production_size_model(cfg, src)
    reg = Registry(cfg.path("model_registry"))
    v = reg.add(src).version
    reg.promote(v, windows_s=cfg.profile.windows.count_windows_s, feature_service=cfg.feast.feature_service,
                force=True, reason="benchmark")
    sig = reg.get(v).signature
    info = {"version": v, "trees": (sig.get("xgboost") or {}).get("trees"), "features": len(sig["features"])}
    return World(users, len(doc["creatives"]), reg.root / v, info, rng)


class Samples(list):
    """Latencies in ms, plus how many calls failed (their time to failure is among the samples)."""
    errors = 0


def _loop(fn, duration: float, min_calls: int = 1000) -> Samples:
    out, start = Samples(), time.perf_counter()
    while len(out) < min_calls or time.perf_counter() - start < duration:
        t = time.perf_counter_ns()
        try:
            fn(len(out))
        except Exception:  # noqa: BLE001 - a read past its socket timeout on a busy host is a
            out.errors += 1  # slow sample (the job answers it with a fallback), not a reason to stop
        out.append((time.perf_counter_ns() - t) / 1e6)
    kept = Samples(out[100:])
    kept.errors = out.errors
    return kept


def floors(cfg: Config, world: World, rate: float, duration: float) -> dict:
    """Each component alone, on this run's stack and data."""
    from udfs.io.onnx_scorer import OnnxScorer
    from scripts.bench import common as benchlib
    from scripts.bench.floors import kafka_latency
    from udfs.io.feast_store import ProfileReader
    from udfs.core.featurize import AdView, Featurizer, RequestView
    kafka, _ = kafka_latency(cfg, rate, 1024, duration, warmup=2.0)
    from udfs.io.online_read import OnlineProfileReader
    reader = ProfileReader(cfg, socket_timeout_ms=cfg.scoring_job.profile_timeout_ms)
    direct = OnlineProfileReader(cfg, socket_timeout_ms=cfg.scoring_job.profile_timeout_ms)
    users = world.users
    feast = _loop(lambda i: reader.read([users[i % len(users)]]), min(duration, 5.0))
    direct_read = _loop(lambda i: direct.read(users[i % len(users)]), min(duration, 5.0))
    sc = OnnxScorer(world.model_dir, cfg.scoring_job.onnx_threads)
    f = Featurizer(cfg.profile.windows.count_windows_s)
    prof = reader.read([users[0]])[0]
    ads = [AdView(c["creative_id"], c["category_id"], c["brand_id"], c["price"], 0.01)
           for c in catalogue()["creatives"]]
    X = f.matrix(prof, ads, RequestView(T_REQ, "mobile", "c01", 1))
    onnx = _loop(lambda i: sc.score(X), min(duration, 5.0))
    return {"kafka": benchlib.pct(kafka), "feast": {**benchlib.pct(feast), "errors": feast.errors},
            "direct_read": {**benchlib.pct(direct_read), "errors": direct_read.errors},
            "onnx": benchlib.pct(onnx)}
