"""Live ad statistics from attributed events: counts, spend and smoothed rates per creative and campaign.

The feedback job's statistics stage keeps one :class:`CampaignStats` per campaign (keyed by
campaign id, so a creative's numbers live with its campaign's) and folds every
:class:`~udfs.core.attributed.Attributed` event into it once (the joins count each event
once; Flink's checkpoints keep the fold exactly-once).

- **Windows** (``feedback.stats_windows_s``): impressions, clicks, conversions, spend and
  conversion value in sliding windows of event time, each a ring of
  ``feedback.stats_buckets`` buckets: the bucket "now" falls in and the ones before it, so
  a window reaches back between (window − one bucket) and the window — exact to one bucket
  (window / buckets: 1 min of 1 h, 24 min of 24 h, 2.8 h of 7 d). "Now" is the latest
  event time this campaign has seen, so a replay gives the same numbers. An event older than
  the longest window is not counted in any window (``stale``), only in the totals.
- **Totals** since the job started: the same five, per creative and campaign.
- **Spend per UTC day** per campaign (``udfs.core.budget.utc_day``): the day of the latest
  charged event and its sum, so the scorer's budget view can tell today's spend from
  yesterday's.
- **The ad CTR prior** is :func:`smoothed_ctr` of the creative's *total* clicks and
  impressions with ``scoring.fallback_prior_ctr`` and ``model.prior_strength`` — the very
  rule training uses (``models/datasets/replay.py`` imports it from here), so the model's
  ``ad_ctr_prior`` feature means the same thing online and offline. A new ad starts at
  the prior and is not judged on three impressions.
- **Smoothed CVR** per click the same way, towards ``scoring.default_pcvr``.
- **Observed CPA** per campaign: spend charged on conversions over conversions, in the
  longest window (the oCPA factor reads it with its conversion count).

Pure: plain data, picklable (the adapter keeps it in Flink state).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from udfs.core.attributed import CLICK, CONVERSION, IMPRESSION, Attributed
from udfs.core.budget import utc_day
from udfs.core.features import window_label

# The five numbers counted per entity and bucket.
IMPS, CLICKS, CONVS, SPEND, VALUE = range(5)
_KIND = {IMPRESSION: IMPS, CLICK: CLICKS, CONVERSION: CONVS}


def smoothed_ctr(clicks: float, imps: float, prior: float, strength: float) -> float:
    """``(clicks + a*prior) / (imps + a)``: the ad's CTR shrunk towards the prior (training's rule)."""
    return (clicks + strength * prior) / (imps + strength)


@dataclass(frozen=True)
class StatsParams:
    windows_s: tuple[int, ...]
    buckets: int
    prior_ctr: float
    prior_cvr: float
    strength: float

    @classmethod
    def from_config(cls, cfg) -> "StatsParams":
        return cls(tuple(cfg.feedback.stats_windows_s), cfg.feedback.stats_buckets,
                   cfg.scoring.fallback_prior_ctr, cfg.scoring.default_pcvr, cfg.model.prior_strength)

    def width_ms(self, w: int) -> int:
        return max(1, self.windows_s[w] * 1000 // self.buckets)


@dataclass
class Entity:
    """One creative's or campaign's numbers: totals and one bucket ring per window."""
    totals: list = field(default_factory=lambda: [0.0] * 5)
    rings: list = field(default_factory=list)      # per window: {bucket number: [five numbers]}
    cpa_spend: list = field(default_factory=list)  # per window's last: spend charged on conversions

    def add(self, ev: Attributed, p: StatsParams, latest: int) -> bool:
        """Count ``ev``; False when it is older than the longest window (totals only)."""
        if not self.rings:
            self.rings = [dict() for _ in p.windows_s]
        row = _row(ev)
        for i, v in enumerate(row):
            self.totals[i] += v
        if ev.ts <= latest - p.windows_s[-1] * 1000:
            return False
        for w, ring in enumerate(self.rings):
            b = ev.ts // p.width_ms(w)
            if b <= latest // p.width_ms(w) - p.buckets:
                continue
            cell = ring.setdefault(b, [0.0] * 6)
            for i, v in enumerate(row):
                cell[i] += v
            if ev.kind == CONVERSION:
                cell[5] += ev.charge
        return True

    def prune(self, p: StatsParams, latest: int) -> None:
        for w, ring in enumerate(self.rings):
            edge = latest // p.width_ms(w) - p.buckets
            for b in [b for b in ring if b <= edge]:
                del ring[b]

    def window(self, w: int, p: StatsParams, latest: int) -> list:
        """The six sums (five numbers + conversion spend) of window ``w`` as of ``latest``."""
        out = [0.0] * 6
        if not self.rings:
            return out
        edge = latest // p.width_ms(w) - p.buckets
        for b, cell in self.rings[w].items():
            if b > edge:
                for i in range(6):
                    out[i] += cell[i]
        return out


def _row(ev: Attributed) -> list:
    row = [0.0] * 5
    row[_KIND[ev.kind]] = 1.0
    row[SPEND] = ev.charge
    row[VALUE] = ev.value
    return row


@dataclass
class CampaignStats:
    campaign_id: str = ""
    latest: int = 0                                   # the latest event time seen (ms)
    campaign: Entity = field(default_factory=Entity)
    creatives: dict = field(default_factory=dict)     # creative id -> Entity
    spend_day: int = -1                               # UTC day of the latest charged event
    spend_today: float = 0.0                          # the campaign's spend on spend_day
    stale: int = 0                                    # events older than the longest window
    dirty: set = field(default_factory=set)           # creatives changed since the last snapshot


def apply(st: CampaignStats, ev: Attributed, p: StatsParams) -> None:
    """Fold one attributed event into its campaign's statistics."""
    st.campaign_id = ev.campaign_id
    if ev.ts > st.latest:
        st.latest = ev.ts
        st.campaign.prune(p, st.latest)
        for e in st.creatives.values():
            e.prune(p, st.latest)
    counted = st.campaign.add(ev, p, st.latest)
    st.creatives.setdefault(ev.creative_id, Entity()).add(ev, p, st.latest)
    st.stale += not counted
    if ev.charge:
        day = utc_day(ev.ts)
        if day > st.spend_day:
            st.spend_day, st.spend_today = day, 0.0
        if day == st.spend_day:
            st.spend_today += ev.charge
    st.dirty.add(ev.creative_id)


def _rates(e: Entity, p: StatsParams, latest: int) -> dict:
    t = e.totals
    longest = e.window(len(p.windows_s) - 1, p, latest)
    convs, cpa_spend = longest[CONVS], longest[5]
    return {"ctr_prior": smoothed_ctr(t[CLICKS], t[IMPS], p.prior_ctr, p.strength),
            "cvr": smoothed_ctr(t[CONVS], t[CLICKS], p.prior_cvr, p.strength),
            "impressions_total": int(t[IMPS]), "clicks_total": int(t[CLICKS]),
            "conversions_total": int(t[CONVS]), "spend_total": t[SPEND],
            "cpa": cpa_spend / convs if convs else 0.0, "cpa_conversions": int(convs)}


def _windowed(e: Entity, p: StatsParams, latest: int) -> dict:
    out = {}
    for w, label in enumerate(window_label(s) for s in p.windows_s):
        s = e.window(w, p, latest)
        out.update({f"impressions_{label}": int(s[IMPS]), f"clicks_{label}": int(s[CLICKS]),
                    f"conversions_{label}": int(s[CONVS]), f"spend_{label}": s[SPEND]})
    return out


def snapshot(st: CampaignStats, p: StatsParams, *, all_creatives: bool = False):
    """(campaign values, {creative id: values}) as of the campaign's latest event; the creatives
    are those changed since the last snapshot (all of them with ``all_creatives``), which are
    then marked clean. Value names: ``udfs.core.features.ad_stats_features``."""
    camp = {**_windowed(st.campaign, p, st.latest), **_rates(st.campaign, p, st.latest),
            "spend_day": st.spend_day, "spend_today": st.spend_today, "latest_ts": st.latest}
    ids = list(st.creatives) if all_creatives else sorted(st.dirty)
    crs = {c: {**_windowed(st.creatives[c], p, st.latest), **_rates(st.creatives[c], p, st.latest),
               "latest_ts": st.latest} for c in ids}
    st.dirty = set()
    return camp, crs
