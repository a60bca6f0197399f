"""``handle_batch`` on real parts gives every request ``handle``'s answer: profiles and stored
impressions in Redis (read with one pipeline), a trained model through onnxruntime, the
catalogue file, caps merged with the feedback job's stored impressions."""
from __future__ import annotations

import json
import random
import time
import uuid

import pytest

from tests.support import scoring_support as S
from udfs import config
from udfs.io import feast_store

pytestmark = pytest.mark.integration


def _side(cfg, catalog_path, model):
    """One side of the comparison: its own reader (and breaker), caps states and scorer."""
    from udfs.core.budget import SpendLedger
    from udfs.core.caps import FrequencyCaps
    from udfs.core.eligibility_cache import StaticCatalogBudget
    from udfs.core.featurize import Featurizer
    from udfs.core.scoring import Deps, ImpressionCaps, RequestScorer, UserCaps
    from udfs.core.seen import decode
    from udfs.io.catalog_feed import CatalogKeeper
    from udfs.io.online_read import guarded_reader
    keeper = CatalogKeeper(cfg.scoring.review, "t", stage="t", log=print)
    keeper.load_file(str(catalog_path))
    budget = StaticCatalogBudget(keeper.catalog, SpendLedger())
    profiles, reader = guarded_reader(cfg, lambda: time.monotonic() * 1000, print)
    scorer = RequestScorer.for_job(cfg, Featurizer(cfg.profile.windows.count_windows_s), "t")
    scorer.wall_ms = lambda: S.T0 + 1000   # the requests' time; answers carry no wall time to compare
    caps, states = FrequencyCaps.from_config(cfg.scoring), {}

    def view(uid):
        stored = (lambda: None if (e := reader.seen_of(uid)) is None else decode(e))
        return ImpressionCaps(caps, states.setdefault(uid, {}), stored, cfg.scoring_job.caps_reconcile_ms)

    def one(raw):
        reader.forget()
        try:
            uid = json.loads(raw).get("user_id") or ""
        except ValueError:   # malformed: the scorer dead-letters it, no caps are read
            uid = ""
        return scorer.handle(raw, Deps(keeper.catalog, budget, view(uid), profiles, model))

    def batch(raws):
        reader.forget()
        return scorer.handle_batch(raws, Deps(keeper.catalog, budget, UserCaps(view), profiles, model))
    return one, batch, states


def _plain(out) -> tuple:
    r = out.response
    return (None if r is None else (r.request_id, r.fallback_reason, r.model_version,
                                    [(a.creative_id, a.pctr, a.ecpm, a.price) for a in r.ads]),
            None if out.served is None else json.loads(out.served.to_json())["ads"],
            None if out.dead_letter is None else out.dead_letter.to_json(), out.reasons, out.capped)


def test_batches_on_redis_and_onnx_answer_as_one_by_one(stack, tmp_path):
    from udfs.core import seen
    from udfs.io.onnx_scorer import load_current
    from udfs.io.seen_store import SeenWriter
    registry = tmp_path / "models"
    S.train_model(registry, seed=3)
    catalog = S.write_catalog(tmp_path / "catalog.json", S.crafted_catalog())
    cfg = config.load("test", overrides=[f"paths.model_registry={registry}",
                                         "scoring.creative_caps=[{window_s: 3600, limit: 1}]"])
    feast_store.apply(cfg)
    tag = uuid.uuid4().hex[:8]
    users = [f"{tag}-{i}" for i in range(8)]           # the last two have no profile
    S.write_profiles(cfg, {u: [(i * 5, "view", f"c{1 + i % 2}"), (i * 5 + 3, "cart", "c1")]
                           for i, u in enumerate(users[:6])})
    SeenWriter(cfg).write([(u, seen.encode({f"creative|{u}|crA1": [S.T0 - 60_000]}), S.T0 - 60_000)
                           for u in users[:3]])       # already shown crA1: capped for them
    model = load_current(registry)
    rng = random.Random(4)
    raws, user_of = [], {}
    for i in range(150):
        req = S.request(f"r{i}", None if rng.random() < 0.1 else rng.choice(users),
                        num_ads=rng.randint(1, 3), page=rng.choice([None, "c1", "c2"]), ts=S.T0 + i)
        raws.append(b"{broken" if i % 37 == 5 else req.encode())
        user_of[req.request_id] = req.user_id
    one, _, single_states = _side(cfg, catalog, model)
    _, batch, batch_states = _side(cfg, catalog, model)
    want = [_plain(one(raw)) for raw in raws]
    got, at = [], 0
    for n in [1, 4, 8, 16, 32, 3, 8] * 10:
        if at < len(raws):
            got += [_plain(o) for o in batch(raws[at:at + n])]
            at += n
    assert got == want
    assert sum(w[4] for w in want) > 20                # caps bound
    shown = {(user_of[w[0][0]], a[0]) for w in want if w[0] for a in w[0][3]}
    assert not any((u, "crA1") in shown for u in users[:3])     # stored impressions counted ...
    assert any((u, "crA1") in shown for u in users[3:])         # ... where the job itself showed none
    assert {w[0][2] for w in want if w[0] and w[0][3]} == {model.version}   # the model ranked them
    assert any(w[0] is None or w[2] for w in want)      # and the malformed ones were dead-lettered
    assert {u: s for u, s in single_states.items() if s} == {u: s for u, s in batch_states.items() if s}
