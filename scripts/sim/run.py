"""One run of the simulated day: every request answered, shown, clicked and fed back, in time order.

For each request of the day, in ``ts`` order: first everything due on the agenda by then
(``scripts.sim.clock``: the site's events reaching the feedback job, the joins' timers, the
new ads' launch, and for the loop the statistics reads and the retrainings); then the scorer
answers (``scripts.sim.server``), its served log enters the feedback chain
(``scripts.sim.feedback``), the site (``scripts.synth.site.Site``) decides what is shown,
clicked and converted — drawn from a generator seeded by the request id, so both runs draw the
same numbers for the same request — and its events go on the agenda at their ``send_at_ms``.
After the last request the agenda is run to its end, so the day's late clicks and conversions
are counted too.

Per request it records what the platform counted (impressions, clicks, conversions, charges
and their billable part, attributed to the request through the site's event ids) and what
the world's true model says (``scripts.sim.truth``: the oracle's value, the answer's, the
regret). The oracle's candidates are the ones the run's scorer had for the request
(``Server.candidates``: targeting, schedule, review, budget as the scorer knew it, pacing,
caps), so the regret measures the ranking — the model, the statistics, exploration — and not
the constraints; an ad of a campaign whose budget was in truth spent already (the run's own
ledger, ``LedgerBudget``: the scorer learns it at its next read, the frozen run never) is
worth nothing, to the oracle as to the answer.
"""
from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from scripts.sim import world as day_world
from scripts.sim.clock import EVENT, LAUNCH, POLL, RETRAIN, TIMER, Agenda
from scripts.sim.feedback import Feedback, LedgerBudget
from scripts.sim.server import Server
from scripts.sim.truth import AdTable, RequestTruth, regret
from scripts.synth.site import Site
from udfs.core.attributed import CLICK, CONVERSION, IMPRESSION, Attributed

HOUR_MS = 3_600_000
PER_REQUEST = ("impressions", "clicks", "conversions", "charged", "revenue", "oracle", "value", "regret",
               "shown", "explored", "fallback", "spent_impressions", "spent_clicks")


@dataclass
class RunResult:
    name: str
    hour: np.ndarray                     # per request: hour of the day (0-based)
    unit: np.ndarray                     # per request: the bootstrap unit (user id, or request id)
    per_request: dict[str, np.ndarray]   # PER_REQUEST -> values per request
    charges: list = field(default_factory=list)           # (ts, campaign, charge, billable)
    new_ad_impressions: dict = field(default_factory=dict)  # creative -> impression times
    stop_ms: dict = field(default_factory=dict)           # campaign -> when a read showed it spent out
    after_stop: dict = field(default_factory=dict)        # campaign -> impressions shown after that
    retrains: list = field(default_factory=list)
    rejected: dict = field(default_factory=dict)          # feedback rejects by kind (expected: none)
    expected_clicks: float = 0.0                          # the site's own Σ p_click of shown ads
    served_outside_candidates: int = 0                    # shown ads the candidates lacked (expected: 0)
    seconds: float = 0.0


def site_params(cfg):
    """The site as the simulation runs it: delays in simulated time (no compression: the clock is
    simulated already) and no faults (duplicates, late events, orphans are the drill's business)."""
    return dataclasses.replace(cfg.site, time_compression=1.0, duplicate_share=0.0, late_share=0.0,
                               orphan_share=0.0)


class Run:
    def __init__(self, cfg, world: day_world.DayWorld, server: Server, *, retrain=None,
                 log: Callable[[str], None] = lambda s: None):
        self.cfg, self.world, self.server, self.retrain, self.log = cfg, world, server, retrain, log
        self.now = world.start_ms
        self.agenda = Agenda()
        self.site = Site(world.site, site_params(cfg))
        self.feedback = Feedback(cfg, self.agenda, server.catalog, world.history_stats, self._attributed)
        self.ledger = LedgerBudget(self.feedback, server.catalog)
        self.table = AdTable(world.site)
        for c in server.catalog.creatives():
            self._add_ad(c.creative_id, c.campaign_id)
        n = len(world.requests)
        self.m = {k: np.zeros(n) for k in PER_REQUEST}
        self.req_of: dict[str, int] = {}
        self.spent_tags: set[str] = set()
        self.result = RunResult(server.name, np.array([(r.ts - world.start_ms) // HOUR_MS for r in world.requests]),
                                np.array([r.user_id or r.request_id for r in world.requests]), self.m)
        self.new_ids = {a.creative["creative_id"] for a in world.new_ads}
        self.result.new_ad_impressions = {c: [] for c in sorted(self.new_ids)}

    def _add_ad(self, creative_id: str, campaign_id: str) -> None:
        ad = self.world.site.ads.get(creative_id)
        camp = self.server.catalog.campaign(campaign_id)
        if ad is not None and camp is not None:
            self.table.add(creative_id, ad, campaign_id, camp.bid)

    # ----------------------------------------------------------------- the day
    def go(self) -> RunResult:
        t0 = time.perf_counter()
        w, s, ag = self.world, self.cfg.simulation, self.agenda
        if w.new_ads and w.launch_ms < w.end_ms:
            ag.at(w.launch_ms, LAUNCH)
        self.server.read_stats(*self.feedback.refresh())     # the first read: the logged days' statistics
        if self.server.live:
            ag.every(POLL, w.start_ms + s.stats_poll_s * 1000, s.stats_poll_s * 1000, w.end_ms)
        if self.retrain is not None:
            ag.every(RETRAIN, w.start_ms + s.retrain_every_h * HOUR_MS, s.retrain_every_h * HOUR_MS, w.end_ms - 1)
        n, step = len(w.requests), max(1, len(w.requests) // 8)
        for i, (req, profile) in enumerate(zip(w.requests, w.profiles)):
            self._advance(req.ts)
            self.now = req.ts
            self._serve(i, req, profile)
            if (i + 1) % step == 0 or i + 1 == n:
                self._progress(i + 1, n, t0)
        self._advance(np.iinfo(np.int64).max)
        r = self.result
        r.rejected, r.expected_clicks = dict(self.feedback.rejected), self.site.tally.expected_clicks
        r.retrains = self.retrain.runs if self.retrain is not None else []
        r.seconds = time.perf_counter() - t0
        return r

    def _progress(self, done: int, n: int, t0: float) -> None:
        m = self.m
        imps = m["impressions"][:done].sum()
        ctr = m["clicks"][:done].sum() / imps if imps else 0.0
        self.log(f"{self.server.name}: {done:,}/{n:,} requests (hour {(self.now - self.world.start_ms) // HOUR_MS}), "
                 f"CTR {ctr:.2%}, revenue {m['revenue'][:done].sum():.2f}, {time.perf_counter() - t0:.0f} s")

    def _advance(self, until_ms: int) -> None:
        fb = self.feedback
        for ts, kind, payload in self.agenda.due(until_ms):
            self.now = ts
            if kind == EVENT:
                fb.event(payload.message)
            elif kind == TIMER:
                fb.timer(payload, ts)
            elif kind == POLL:
                for c in self.server.read_stats(*fb.refresh()):
                    self.result.stop_ms.setdefault(c, ts)
            elif kind == LAUNCH:
                self._launch()
            elif kind == RETRAIN:
                model = self.retrain(fb.training, ts)
                if model is not None:
                    self.server.model = model

    def _launch(self) -> None:
        records = [r for a in self.world.new_ads
                   for r in day_world.change_records(a, self.cfg.simulation.budget_scale)]
        refused = self.server.launch(records)
        for a in self.world.new_ads:
            self._add_ad(a.creative["creative_id"], a.campaign["campaign_id"])
        self.log(f"{self.server.name}: {len(self.world.new_ads)} new ads launched ({refused} records refused)")

    # ----------------------------------------------------------------- one request
    def _serve(self, i: int, req, profile) -> None:
        candidates = [c.creative_id for c in self.server.candidates(req, profile)]
        out = self.server.answer(req, profile)
        resp, m = out.response, self.m
        if out.served is not None:
            self.feedback.served(out.served)
        for o in self.site.serve(req, resp):
            if o.topic == "impressions":
                tag = o.message.impression_id[3:]
                self.req_of[tag] = i
                if self.ledger.remaining(o.message.campaign_id, req.ts) <= 0:
                    self.spent_tags.add(tag)     # shown for a campaign whose budget was spent already
            self.agenda.at(o.send_at_ms, EVENT, o)
        shown = resp.ads[:req.num_ads]
        m["shown"][i], m["explored"][i], m["fallback"][i] = len(shown), out.explored > 0, resp.fallback
        top, got, reg = self._truth(req, candidates, [a.creative_id for a in shown])
        m["oracle"][i], m["value"][i], m["regret"][i] = top, got, reg

    def _truth(self, req, candidates: list[str], shown: list[str]) -> tuple[float, float, float]:
        idx = self.table.index
        # The scorer ranks exactly the candidates: an ad outside them means Server.candidates drifted.
        self.result.served_outside_candidates += len(set(shown) - set(candidates))
        served_rows = [idx[c] for c in shown]
        rows = sorted({idx[c] for c in candidates if c in idx} | set(served_rows))
        if not rows:
            return 0.0, 0.0, 0.0
        truth = RequestTruth.of(self.world.site, req.user_id, req.ts, req.context.device, req.context.page_category)
        values = truth.values(self.table, np.array(rows), req.num_ads)
        out = np.array([self.ledger.remaining(self.table.campaign[r], req.ts) <= 0 for r in rows])
        values[out] = 0.0      # a spent-out campaign's ad earns nothing: nothing more is billable
        where = {r: k for k, r in enumerate(rows)}
        return regret(values, [where[r] for r in served_rows], list(range(1, len(served_rows) + 1)))

    def _attributed(self, a: Attributed, billable: float) -> None:
        i = self.req_of.get(a.event_id[3:])
        if i is None:       # not an event of today's answers (cannot happen: the day starts empty)
            return
        m = self.m
        m[{IMPRESSION: "impressions", CLICK: "clicks", CONVERSION: "conversions"}[a.kind]][i] += 1
        if a.kind in (IMPRESSION, CLICK) and a.event_id[3:] in self.spent_tags:
            m["spent_" + ("impressions" if a.kind == IMPRESSION else "clicks")][i] += 1
        m["charged"][i] += a.charge
        m["revenue"][i] += billable
        if a.charge:
            self.result.charges.append((a.ts, a.campaign_id, a.charge, billable))
        if a.kind == IMPRESSION:
            if a.creative_id in self.new_ids:
                self.result.new_ad_impressions[a.creative_id].append(a.ts)
            stop = self.result.stop_ms.get(a.campaign_id)
            if stop is not None and a.ts >= stop:
                self.result.after_stop[a.campaign_id] = self.result.after_stop.get(a.campaign_id, 0) + 1


def log_to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
