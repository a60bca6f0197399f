"""Synthetic feedback for the feedback benchmark: served logs with the impressions, clicks and
conversions that follow them, as (topic key, record value) pairs, and a reader of the
statistics the job writes (the campaign's attributed impressions, straight from Redis)."""
from __future__ import annotations

import time

import numpy as np

from udfs.messages import AdClick, Conversion, Impression, ServedAd, ServedLog
from udfs.messages.served import CHARGED_ON, charge_of

BID_TYPES = ("CPM", "CPC", "CPA")


def feature_row(n: int) -> tuple[float, ...]:
    """``n`` float32 values, as a served log carries the row the model scored."""
    return tuple(float(np.float32(k * 0.37 - 3.1)) for k in range(n))


def request_events(i: int, ts: int, campaigns: int, tag: str, features: tuple[float, ...] = ()
                   ) -> list[tuple[str, bytes]]:
    """Request ``i`` at ``ts``: its served log (3 ads, each with ``features`` as its scored row),
    3 impressions, a click on every 7th impression and a conversion after every 4th click:
    4.5 events on average."""
    rid, user = f"{tag}-r{i}", f"{tag}-u{i % 5000}"
    ads = []
    for rank in range(1, 4):
        c = (i + rank) % campaigns
        bt = BID_TYPES[c % 3]
        price = (2.0, 0.3, 4.0)[c % 3]
        ads.append(ServedAd(ad_id=f"a{c}", campaign_id=f"{tag}-c{c}", creative_id=f"{tag}-cr{c}",
                            advertiser_id="adv", rank=rank, bid_type=bt, bid=price, pctr=0.05, ecpm=1.0,
                            price=price, charged_on=CHARGED_ON[bt], charge=charge_of(bt, price), features=features))
    out = [("served_log", ServedLog(request_id=rid, user_id=user, ts=ts, slot="home", model_version="v1",
                                    feature_set="bench" if features else "", ads=tuple(ads)).encode())]
    for ad in ads:
        iid = f"{rid}-{ad.rank}"
        out.append(("impressions", Impression(impression_id=iid, request_id=rid, user_id=user, ad_id=ad.ad_id,
                                              campaign_id=ad.campaign_id, creative_id=ad.creative_id, ts=ts + 5,
                                              position=ad.rank, price=0.0).encode()))
        n = i * 3 + ad.rank
        if n % 7 == 0:
            out.append(("ad_clicks", AdClick(click_id=f"k-{iid}", impression_id=iid, request_id=rid, user_id=user,
                                             ad_id=ad.ad_id, campaign_id=ad.campaign_id, ts=ts + 50).encode()))
            if n % 28 == 0:
                out.append(("conversions", Conversion(conversion_id=f"v-{iid}", impression_id=iid,
                                                      click_id=f"k-{iid}", user_id=user,
                                                      campaign_id=ad.campaign_id, ts=ts + 90,
                                                      value=10.0).encode()))
    return out


class StatsPoll:
    """The campaigns' attributed impressions as the job wrote them (``impressions_total`` of the
    ``campaign_stats`` view: the bytes Feast reads), one pipelined round trip a poll."""

    def __init__(self, cfg, campaign_ids):
        import redis

        from udfs.core.features import CAMPAIGN_KEY, CAMPAIGN_STATS_VIEW
        from udfs.io.feast_values import field_name, redis_key
        self.r = redis.Redis(host=cfg.redis.host, port=cfg.redis.port, db=cfg.redis.db)
        self.keys = [redis_key(cfg.feast.project, CAMPAIGN_KEY, c) for c in campaign_ids]
        self.field = field_name(CAMPAIGN_STATS_VIEW, "impressions_total")

    def impressions(self) -> list[int]:
        from udfs.io.feast_values import decode
        with self.r.pipeline(transaction=False) as p:
            for k in self.keys:
                p.hget(k, self.field)
            return [0 if b is None else int(decode(b)) for b in p.execute()]


def now_ms() -> int:
    return time.time_ns() // 1_000_000
