"""The world of one simulated day: drawn once, then read by both runs alike.

A synthetic world (``scripts.synth.generate``) of ``history_days + 1`` days: the first days
are its uniformly logged traffic, from which the first model is trained and the ad statistics
start; the last day is the simulated one. Its ad requests (the first ``hours`` of it) are the
request stream both runs answer, in time order; its clickstream is what the profiles fold and
what the site's hidden click model reads. The world is written to a folder as ``adstream
generate`` writes it, because the site (``SiteWorld.load``) and the training set
(``load_synthetic``) read that layout.

Two things are added to the generated world:

- **Budgets scaled** by ``simulation.budget_scale`` in the catalogue the scorer reads, so that
  they bind at this traffic (the generator draws budgets for a much larger site).
- **New ads**: ``simulation.new_ads`` campaigns, each a copy of a generated active campaign
  (bid, budget, targeting) with one creative promoting that campaign's item at latent quality
  ``simulation.new_ads_quality``, launched at ``new_ads_hour`` through the catalogue's change
  records; the site knows their quality, nothing else does.

Each request's profile (``udfs.core.profile``: the user's clickstream folded up to the
request's ``ts``, ``snapshot`` as the Feast row) is computed once here: it does not depend
on what was served, so both runs read the same rows.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from models.datasets.common import Dataset
from models.datasets.synthetic import load_synthetic
from scripts.synth import generate, writer
from scripts.synth.site import Ad, SiteWorld
from udfs.core import ad_stats
from udfs.core.attributed import CLICK, CONVERSION, IMPRESSION, Attributed
from udfs.core.catalog import entity_to_dict
from udfs.core.profile import EventView, ProfileParams, ProfileState, apply, snapshot
from udfs.messages import AdRequest, RequestContext
from udfs.messages.served import CHARGED_ON, charge_of

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True)
class NewAd:
    """A campaign launched during the day, its one creative, and what the site knows of it."""
    campaign: dict      # catalogue entity (udfs.core.catalog format)
    creative: dict
    ad: Ad              # the site's view, latent quality included


@dataclass(frozen=True, eq=False)
class DayWorld:
    seed: int
    folder: Path
    start_ms: int            # the simulated day's first instant
    end_ms: int              # start + hours
    launch_ms: int           # when the new ads go live
    catalog_file: Path       # the scaled catalogue both runs start from
    site: SiteWorld
    new_ads: tuple[NewAd, ...]
    requests: tuple[AdRequest, ...]
    profiles: tuple[Mapping | None, ...]   # per request: the Feast row the scorer reads
    history: Dataset                       # the first model's training rows (days before)
    history_stats: dict                    # campaign id -> CampaignStats, folded from the history

    @property
    def hours(self) -> int:
        return (self.end_ms - self.start_ms) // HOUR_MS


def build(cfg, seed: int, users: int, requests_per_hour: int, hours: int, folder: Path,
          log: Callable[[str], None] = lambda s: None) -> DayWorld:
    """Draw and write the world, and prepare everything both runs read."""
    s = cfg.simulation
    days = s.history_days + 1
    params = dataclasses.replace(cfg.generator, seed=seed, users=users, days=days,
                                 events=int(round(users * s.events_per_user_day * days)),
                                 requests=requests_per_hour * 24 * days)
    world = generate(params)
    writer.write(world, folder)
    start = params.start_ts_ms + s.history_days * DAY_MS
    end = start + hours * HOUR_MS
    log(f"world: {users:,} users, {len(world.streams.events):,} events, "
        f"{len(world.streams.requests):,} requests over {days} days, {len(world.static.creatives)} creatives")
    rng = np.random.default_rng([seed, 15])
    new = _new_ads(world, s.new_ads, s.new_ads_quality, rng)
    site = SiteWorld.load(folder)
    for n in new:
        site.ads[n.creative["creative_id"]] = n.ad
    catalog_file = folder / "catalog-scaled.json"
    doc = writer.catalog_document(world)
    for c in doc["campaigns"]:
        c["daily_budget"] = round(c["daily_budget"] * s.budget_scale, 4)
    catalog_file.write_text(json.dumps(doc))
    requests = _requests(world.streams.requests, start, end)
    profiles = _profiles(world.streams.events, requests, ProfileParams.from_config(cfg.profile.windows))
    history = _before(load_synthetic(folder, cfg, progress=False), start)
    stats = history_stats(world, start, ad_stats.StatsParams.from_config(cfg))
    return DayWorld(seed=seed, folder=folder, start_ms=start, end_ms=end,
                    launch_ms=start + s.new_ads_hour * HOUR_MS, catalog_file=catalog_file, site=site,
                    new_ads=tuple(new), requests=requests, profiles=profiles, history=history,
                    history_stats=stats)


def _new_ads(world, n: int, quality: float, rng: np.random.Generator) -> list[NewAd]:
    """``n`` campaigns copied from generated active ones that a profile can match (drawn without
    replacement), each with one creative (``pending``: the keeper's review passes it) of latent
    ``quality``; budgets are scaled later with the others."""
    creatives = {c.campaign_id: c for c in world.static.creatives if c.review_status == "approved"}
    # Profiles carry no age band or gender, so a campaign targeting either reaches no one: not copied.
    pool = [c for c in world.static.campaigns if c.status == "active" and c.campaign_id in creatives
            and not c.targeting.age_bands and not c.targeting.genders]
    picks = rng.choice(len(pool), size=min(n, len(pool)), replace=False) if pool else []
    out = []
    for k, i in enumerate(sorted(int(i) for i in picks)):
        base, cr = pool[i], creatives[pool[i].campaign_id]
        cid, crid = f"new-cmp{k + 1:02d}", f"new-cr{k + 1:02d}"
        campaign = {"campaign_id": cid, "advertiser_id": base.advertiser_id, "status": "active",
                    "daily_budget": base.daily_budget, "bid_type": base.bid_type, "bid": base.bid,
                    "target_cpa": base.target_cpa,
                    "targeting": {k2: list(v) for k2, v in dataclasses.asdict(base.targeting).items()},
                    "schedule": {"hours": list(base.schedule_hours)}}
        creative = {"creative_id": crid, "ad_id": f"new-ad{k + 1:02d}", "campaign_id": cid,
                    "advertiser_id": base.advertiser_id, "item_id": cr.item_id, "category_id": cr.category_id,
                    "brand_id": cr.brand_id, "price": cr.price, "title": f"New: {cr.title}"[:90],
                    "landing_url": cr.landing_url, "review_status": "pending"}
        out.append(NewAd(campaign, creative, Ad(cr.category_id, cr.brand_id, float(cr.price), float(quality),
                                                base.bid_type)))
    return out


def scaled(entity: dict, budget_scale: float) -> dict:
    """A new campaign's entity with its budget scaled like the generated ones'."""
    return {**entity, "daily_budget": round(entity["daily_budget"] * budget_scale, 4)}


def change_records(new: NewAd, budget_scale: float) -> list[tuple[str, dict]]:
    """The catalogue change records (key, value) that launch ``new``: campaign, then creative."""
    from udfs.core.catalog import entity_from_dict
    camp = entity_to_dict(entity_from_dict("campaign", scaled(new.campaign, budget_scale)))
    cr = entity_to_dict(entity_from_dict("creative", new.creative))
    return [(f"campaign:{camp['campaign_id']}", camp), (f"creative:{cr['creative_id']}", cr)]


def _requests(frame: pd.DataFrame, start: int, end: int) -> tuple[AdRequest, ...]:
    day = frame[(frame["ts"] >= start) & (frame["ts"] < end)].sort_values(["ts", "request_id"], kind="stable")
    out = []
    for r in day.itertuples(index=False):
        user = r.user_id if isinstance(r.user_id, str) and r.user_id else None
        page = r.page_category if isinstance(r.page_category, str) and r.page_category else None
        out.append(AdRequest(request_id=r.request_id, user_id=user, ts=int(r.ts), slot=r.slot,
                             num_ads=int(r.num_ads), context=RequestContext(device=r.device, geo=r.geo,
                                                                            page_category=page)))
    return tuple(out)


def _profiles(events: pd.DataFrame, requests, p: ProfileParams) -> tuple[Mapping | None, ...]:
    """Each request's profile: its user's events strictly before its ``ts`` folded, then snapshot."""
    ev = events.sort_values(["ts", "event_id"], kind="stable")
    by_user: dict[str, list] = {}
    for e in ev.itertuples(index=False):
        price = None if e.price is None or (isinstance(e.price, float) and np.isnan(e.price)) else float(e.price)
        by_user.setdefault(e.user_id, []).append(EventView(int(e.ts), e.type, e.category_id or None,
                                                           e.brand_id or None, price))
    states: dict[str, ProfileState] = {}
    done: dict[str, int] = {}
    out = []
    for r in requests:
        u = r.user_id
        evs = by_user.get(u) if u else None
        if not evs:
            out.append(None)
            continue
        st, i = states.setdefault(u, ProfileState()), done.get(u, 0)
        while i < len(evs) and evs[i].ts < r.ts:
            apply(st, evs[i], p)
            i += 1
        done[u] = i
        out.append(snapshot(st, p) if i else None)
    return tuple(out)


def _before(ds: Dataset, start: int) -> Dataset:
    """The rows of ``ds`` whose request came before ``start`` (the days before the simulated one)."""
    keep = np.flatnonzero(ds.ts < start)
    take = (lambda a: None if a is None else np.asarray(a)[keep])
    return dataclasses.replace(ds, X=ds.X.iloc[keep].reset_index(drop=True), y=ds.y[keep], ts=ds.ts[keep],
                               segments={k: v[keep] for k, v in ds.segments.items()},
                               prior_key=take(ds.prior_key), oracle=take(ds.oracle),
                               oracle_observable=take(ds.oracle_observable),
                               meta={**ds.meta, "rows": len(keep), "before_ms": start})


def history_stats(world, start: int, p: ad_stats.StatsParams) -> dict:
    """The logged days as the feedback job would have counted them (``udfs.core.ad_stats``): each
    logged impression, click and conversion before ``start``, charged at its bid (the logging
    policy held no auction) on the event its bid type pays for."""
    s = world.streams
    camps = {c.campaign_id: c for c in world.static.campaigns}
    imps = s.impressions[s.impressions["ts"] < start]
    creative_of = dict(zip(imps["impression_id"], imps["creative_id"]))
    rows = [(int(r.ts), IMPRESSION, r.impression_id, r.campaign_id, r.creative_id) for r in imps.itertuples()]
    for kind, frame, eid in ((CLICK, s.ad_clicks, "click_id"), (CONVERSION, s.conversions, "conversion_id")):
        f = frame[(frame["ts"] < start) & frame["impression_id"].isin(creative_of.keys())]
        rows += [(int(t), kind, e, c, creative_of[i]) for t, e, c, i in
                 zip(f["ts"], f[eid], f["campaign_id"], f["impression_id"])]
    out: dict = {}
    for ts, kind, eid, cid, crid in sorted(rows):
        c = camps[cid]
        charge = charge_of(c.bid_type, c.bid) if CHARGED_ON[c.bid_type] == kind else 0.0
        ad_stats.apply(out.setdefault(cid, ad_stats.CampaignStats()),
                       Attributed(kind, eid, ts, cid, crid, c.bid_type, charge), p)
    return out
