"""User attributes end to end on the real stack: `adstream users load` → Feast (Redis) → the
scoring job's one HMGET → a campaign targeting one age band and gender serves only those users.

Kafka, Redis, Feast and the Flink job are real (tests/support/scoring_support.py): the user
table goes through the command's own code path, the scorer reads what Feast wrote.
"""
from __future__ import annotations

import argparse

import pandas as pd
import pytest

from tests.support import scoring_support as S
from udfs.io import attributes_store
from udfs.messages import AdRequest, Consent, RequestContext

pytestmark = [pytest.mark.integration, pytest.mark.flink]


def _catalog() -> dict:
    advs = [{"advertiser_id": a, "name": a} for a in ("T", "G")]
    camps = [S.campaign("cT", "T", bid=9.0, targeting={"age_bands": ["25-34"], "genders": ["f"]}),
             S.campaign("cR", "T", bid=8.0, targeting={"geos": ["FR"]}),
             S.campaign("cG", "G", bid=1.0)]
    crs = [S.creative("crT", "cT", "T"), S.creative("crR", "cR", "T"), S.creative("crG", "cG", "G")]
    return {"advertisers": advs, "campaigns": camps, "creatives": crs}


def test_loaded_attributes_target_only_matching_users(stack, tmp_path):
    from jobs.scoring import start
    from scripts.cli import users as users_cli
    registry = tmp_path / "models"
    S.train_model(registry, 1)
    cat = S.write_catalog(tmp_path / "catalog.json", _catalog())
    cfg, _, tag = S.job_config(tmp_path, registry=registry, catalog=cat,
                               **{"scoring_job.profile_timeout_ms": 1000,
                                  "paths.data_dir": str(tmp_path / "data")})
    u = {k: f"{tag}-{k}" for k in ("f25", "m25", "f45", "f25p", "fr", "ghost")}
    table = pd.DataFrame({
        "user_id": [u["f25"], u["m25"], u["f45"], u["f25p"], u["fr"]],
        "age_band": ["25-34", "25-34", "45-54", "25-34", "55+"],
        "gender": ["f", "m", "f", "f", "m"],
        "region": ["DE", "DE", "DE", "DE", "FR"],
        "registered": ["2024-01-01"] * 5,
        "membership_tier": ["gold", "basic", "silver", "basic", "basic"]})
    path = tmp_path / "users.csv"
    table.to_csv(path, index=False)
    assert users_cli.run(cfg, argparse.Namespace(table=path, check_only=False)) == 0
    assert attributes_store.offline_path(cfg).exists()
    S.write_profiles(cfg, {u["f25p"]: [(0, "view", "c1")]})   # attributes beside a profile

    client, c = start(cfg), S.Client(cfg)
    try:
        reqs = {k: S.request(k, uid, num_ads=3, geo="") for k, uid in u.items()}
        reqs["f25-no-consent"] = AdRequest(
            request_id="f25-no-consent", user_id=u["f25"], ts=S.T0, slot="home_top", num_ads=3,
            context=RequestContext(device="mobile", geo=""),
            consent=Consent(personalisation=False, measurement=False))
        for r in reqs.values():
            c.send(r, key=r.user_id)
        assert c.wait(lambda c: set(reqs) <= set(c.by_id()), 180), c.responses
        got = {k: [a.creative_id for a in r.ads] for k, r in c.by_id().items() if k in reqs}
        served_t = {k for k, ads in got.items() if "crT" in ads}
        assert served_t == {"f25", "f25p"}, got               # 25-34 and f, with or without a profile
        assert {k for k, ads in got.items() if "crR" in ads} == {"fr"}, got   # the account's region
        assert all("crG" in ads for ads in got.values()), got  # untargeted: everyone
        by_id = c.by_id()
        assert "no profile" in by_id["f25"].fallback_reason      # attributes alone are not a profile
        assert not by_id["f25p"].fallback
        assert "crT" not in got["f25-no-consent"] and by_id["f25-no-consent"].fallback
    finally:
        client.cancel().result()
        c.close()
