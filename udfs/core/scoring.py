"""One ad request in, one answer out: the scoring job's per-request orchestration.

decode → profile → eligible → caps → featurize → one model call → auction → response.

Pure: the profile source, model, caps state, budget view, ad statistics, catalogue
and clocks are passed in (protocols in ``udfs/core/scoring_env.py``), so the Flink adapter
(``udfs/flink/scoring.py``) supplies Feast, onnxruntime and keyed state, and unit
tests supply fakes. Consent (docs/privacy.md): a request without personalisation consent
(``udfs.core.consent`` under the job's ``privacy.consent``) is ranked as an anonymous one —
no profile or attribute read, no caps read or kept for its user — and flagged ``no_consent``; its
served log says whether it may be measured. The one promise kept here is *never unanswered*: every request
that carries a request id gets a response — personal when possible, otherwise a
flagged contextual one — and a malformed one also goes to the dead-letter topic.
See docs/scoring-job.md for the fallback rules.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from udfs.core import auction_arrays, exploration
from udfs.core.auction_arrays import AdBook
from udfs.core.catalog import Creative
from udfs.config import Config, ConsentPolicy, Scoring
from udfs.core import consent as consent_rules
from udfs.core.eligibility_cache import EligibilityCache
from udfs.core.experiments import Arm
from udfs.errors import MessageError
from udfs.core.featurize import AdColumns, AdView, Featurizer, RequestView, attributes_only, has_profile
from udfs.core import served_log
from udfs.core.ranking import ocpa_factor
from udfs.messages import AdRequest, DeadLetter, RankedAds, ServedLog
from udfs.messages.bounds import TimeBounds, clean_text, safe_text
from udfs.core.ranking import build_response, rank_fallback
from udfs.core.record_guard import describe, error_letter
from udfs.core.scoring_env import (  # noqa: F401  (re-exported: the scoring step's vocabulary)
    ANONYMOUS, INTERNAL, INVALID, NO_CONSENT, MODEL_ERROR, MODEL_STALE, NO_MODEL, NO_MODEL_LOADED, NO_STATS, PROFILE_ERROR,
    PROFILE_EXPIRED,
    PROFILE_SKIPPED, PROFILE_TIMEOUT, REASONS, TEXT, UNKNOWN_USER, AdStats, CapsView, Deps, DictCaps, ImpressionCaps,
    Model, NoStats, ProfileSource, ProfileUnavailable, UserCaps, read_failure)
from udfs.core.targeting import UserAttrs


@dataclass(frozen=True)
class Outcome:
    response: RankedAds | None           # None only when not even a request id could be read
    dead_letter: DeadLetter | None = None
    reasons: tuple[str, ...] = ()        # fallback reason codes, for counting
    candidates: int = 0
    capped: int = 0
    served: ServedLog | None = None      # what was offered and why (served-log.v1); None: nothing decoded
    paced: int = 0                       # eligible creatives left out by budget pacing
    explored: int = 0                    # candidates that bid with a posterior draw (udfs.core.exploration)


@dataclass
class Ranking:
    """One decoded request on its way through the stages (what ``handle`` keeps in locals,
    held in one place so the batched path runs the same stages)."""
    req: AdRequest
    t0: float
    timings: dict
    reasons: list
    arm: Arm
    decided: object = None          # the consent decision; None: consent not checked
    personal: bool = True
    user: str | None = None         # whose caps count; None: nobody's
    profile: Mapping | None = None


def _salvage_id(raw: bytes | str) -> str | None:
    try:
        rid = json.loads(raw).get("request_id")
    except Exception:   # not JSON, not an object, nested too deep, not text …: no id to answer
        return None
    # An id the response could not carry (RankedAds' own rules) is no id: answering must not fail.
    return rid if isinstance(rid, str) and 0 < len(rid) <= 128 and clean_text(rid) else None


def _probabilities(scores) -> np.ndarray:
    """A model's scores as float64 probabilities: clipped to [0, 1], NaN → 0 (in place on
    a copy; ``nan_to_num`` over the clipped array cost twice as much)."""
    p = np.array(scores, dtype=np.float64)
    np.clip(p, 0.0, 1.0, out=p)
    nan = np.isnan(p)
    if nan.any():
        p[nan] = 0.0
    return p


class RequestScorer:
    def __init__(self, scoring: Scoring, featurizer: Featurizer, *, source_topic: str,
                 stage: str = "scoring.rank.v1", variant: str = "control",
                 profile_ttl_ms: int | None = None, bounds: TimeBounds | None = None,
                 clock: Callable[[], float] = time.perf_counter,
                 wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
                 consent: ConsentPolicy | None = None):
        self.scoring, self.featurizer, self.profile_ttl_ms = scoring, featurizer, profile_ttl_ms
        # None: consent not checked (offline tools ranking a world's requests); the job passes
        # its privacy.consent (for_job), so every request it answers is decided by it
        self.consent = consent
        self.source_topic, self.stage, self.variant = source_topic, stage, variant
        self.clock, self.wall_ms = clock, wall_ms
        self.bounds = bounds   # the request ts window around wall_ms(); None: the format's bounds only
        self._book_cols: tuple[AdBook, AdColumns] | None = None
        self._ads_key: tuple = ()
        self.eligibility = EligibilityCache()
        # A request when no experiments are loaded: the job's own settings.
        self._outside = Arm(variant, scoring, pacing=scoring.pacing.enabled, exploration=scoring.exploration.rate)
        self.explore_params = exploration.ExplorationParams.from_config(scoring.exploration)

    @classmethod
    def for_job(cls, cfg: Config, featurizer: Featurizer, stage: str) -> "RequestScorer":
        """The scoring job's scorer: its request topic, experiment variant and the profile TTL."""
        return cls(cfg.scoring, featurizer, source_topic=cfg.kafka.topics.ad_requests.name, stage=stage,
                   variant=cfg.scoring_job.variant, profile_ttl_ms=cfg.profile.windows.state_ttl_s * 1000,
                   bounds=TimeBounds.from_config(cfg.messages), consent=cfg.privacy.consent)

    def handle(self, raw: bytes | str, deps: Deps) -> Outcome:
        req, t0, timings = self.decode(raw)
        if not isinstance(req, AdRequest):
            return req   # the answer to a request that did not decode
        try:
            return self._rank(req, deps, t0, timings)
        except Exception as e:  # a bug must cost one request's ranking, never its answer
            return self._internal(raw, req, e, t0)

    def decode(self, raw: bytes | str) -> tuple:
        """(request, start time, timings) of ``raw``; when it does not decode, (its Outcome, …):
        the dead letter and, where a request id can be read, a flagged answer."""
        t0 = self.clock()
        try:
            req = AdRequest.decode(raw, bounds=self.bounds,
                                   now_ms=None if self.bounds is None else self.wall_ms())
        except MessageError as e:
            return self._invalid(raw, e), t0, None
        except Exception as e:   # a decoder bug is this record's fault to report, not the job's
            return self.failed(raw, e, "decode"), t0, None
        return req, t0, {"decode": (self.clock() - t0) * 1000.0}

    def handle_batch(self, raws: list, deps: Deps) -> list[Outcome]:
        """Several requests scored together, each answered as ``handle`` one by one in order would
        answer it (``udfs/core/scoring_batch.py``): one profile read, one model call per model.
        ``deps.caps`` must answer for every user of the batch (``scoring_env.UserCaps``)."""
        from udfs.core.scoring_batch import handle_batch
        return handle_batch(self, raws, deps)

    def _internal(self, raw, req: AdRequest, e: BaseException, t0: float) -> Outcome:
        """A decoded request whose ranking raised: an empty flagged answer and a dead letter."""
        try:
            resp = build_response(req, (), now_ms=self.wall_ms(), model_version=NO_MODEL,
                                  variant=self.variant, fallback=True,
                                  fallback_reason=safe_text(f"internal error: {describe(e)}")[:256],
                                  timings_ms={"total": (self.clock() - t0) * 1000.0})
        except Exception:
            return self.failed(raw, e, "ranking")
        return Outcome(resp, self._error_letter(raw, e, "ranking"), reasons=(INTERNAL,))

    def failed(self, raw, exc: BaseException, what: str) -> Outcome:
        """The answer to a request whose handling raised ``exc`` during ``what`` (the Flink
        adapter's catch-all uses it too): a dead letter naming the exception, and an empty
        flagged response when a request id can be read."""
        dl = self._error_letter(raw, exc, what)
        rid = _salvage_id(raw)
        if rid is None:
            return Outcome(None, dl, (INTERNAL,))
        resp = RankedAds(request_id=rid, ts=self.wall_ms(), ads=(), model_version=NO_MODEL,
                         variant=self.variant, fallback=True,
                         fallback_reason=safe_text(f"internal error: {describe(exc)}")[:256])
        return Outcome(resp, dl, (INTERNAL,))

    def _error_letter(self, raw, exc: BaseException, what: str) -> DeadLetter:
        return error_letter(raw, exc, what, self.source_topic, self.wall_ms(), self.stage)

    # ----------------------------------------------------------------- stages
    def _rank(self, req: AdRequest, deps: Deps, t0: float, timings: dict) -> Outcome:
        c = self.begin(req, deps, t0, timings)
        if c.personal:
            c.profile = self._profile(req.user_id, deps.profiles, c.reasons, timings)
        self.expire(c)
        kept, capped, paced = self.candidates(req, c.profile, deps, c.arm, c.user, timings)
        result = self._auction(req, kept, c.profile, deps, c.reasons, timings, c.arm)
        return self.finish(c, deps, kept, capped, paced, result)

    def begin(self, req: AdRequest, deps: Deps, t0: float, timings: dict) -> "Ranking":
        """A decoded request's variant and consent: whether its user's profile and caps are used."""
        c = Ranking(req, t0, timings, [], self.arm(req, deps))
        c.decided = None if self.consent is None else consent_rules.of_request(req, self.consent)
        c.personal = c.decided is None or c.decided.personalisation
        c.user = req.user_id if c.personal else None   # no consent: neither profile nor caps for the user
        if not c.personal:
            c.reasons.append(NO_CONSENT if req.user_id else ANONYMOUS)
        return c

    def expire(self, c: "Ranking") -> None:
        if c.profile is not None and self.expired(c.profile, c.req.ts):
            c.profile = attributes_only(c.profile)   # the user table's attributes outlive the behaviour
            c.reasons.append(PROFILE_EXPIRED)

    def finish(self, c: "Ranking", deps: Deps, kept: list, capped: int, paced: int, result,
               summed: bool = False) -> Outcome:
        """Count what was served against the user's caps, then the answer and its served log.
        ``total`` is the time since the request's decoding began; ``summed``: the sum of its
        stages instead (a batch's request, whose shared stages are shares: scoring_batch.py)."""
        req, timings, reasons = c.req, c.timings, c.reasons
        ads, version, terms, rows, explored = result
        t4 = self.clock()
        served = [cr for cr in (deps.catalog.creative(a.creative_id) for a in ads) if cr is not None]
        deps.caps.record(c.user, served, req.ts)   # the request's own time, as the filter saw it
        t5 = self.clock()
        timings["caps"] += (t5 - t4) * 1000.0
        timings["total"] = (sum(v for k, v in timings.items() if k != "total") if summed
                            else (t5 - c.t0) * 1000.0)
        text = "; ".join(TEXT[r] for r in reasons) or None
        resp = build_response(req, ads, now_ms=self.wall_ms(), model_version=version,
                              variant=c.arm.label, fallback=bool(reasons), fallback_reason=text,
                              timings_ms={k: round(v, 3) for k, v in timings.items()})
        served_log_, letter = self._served(req, resp, terms, rows, c.decided)
        return Outcome(resp, letter, reasons=tuple(reasons), candidates=len(kept), capped=capped,
                       served=served_log_, paced=paced, explored=explored)

    def candidates(self, req: AdRequest, profile: Mapping | None, deps: Deps, arm: Arm, user: str | None,
                   timings: dict | None = None) -> tuple[list[Creative], int, int]:
        """The creatives ``req`` is ranked over, and (capped, paced) counts: eligible (targeting,
        schedule, budget), taking part under pacing when the variant paces, within ``user``'s
        caps (None: no caps). The simulated day asks it too (scripts/sim/server.py)."""
        eligible, paced = self.eligible(req, profile, deps, arm, timings)
        t2 = self.clock()
        kept, capped = deps.caps.filter(user, eligible, req.ts)
        if timings is not None:
            timings["caps"] = (self.clock() - t2) * 1000.0
        return kept, capped, paced

    def eligible(self, req: AdRequest, profile: Mapping | None, deps: Deps, arm: Arm,
                 timings: dict | None = None) -> tuple[list[Creative], int]:
        """The creatives eligible for ``req`` before caps, and how many pacing left out."""
        t = self.clock()
        sel = self.eligibility.select(deps.catalog, req.context, UserAttrs.from_mapping(profile), req.ts,
                                      deps.budget)
        eligible, paced = self._paced(sel.creatives, req.request_id, deps.pacing if arm.pacing else None)
        if timings is not None:
            timings["eligible"] = (self.clock() - t) * 1000.0
        return eligible, paced

    def arm(self, req: AdRequest, deps: Deps) -> Arm:
        """The request's experiment variant (udfs.core.experiments); outside any: the job's own."""
        if deps.experiments is None:
            return self._outside
        return deps.experiments.assign(req.user_id, req.request_id, req.ts)

    @staticmethod
    def _paced(creatives: list, request_id: str, pacer) -> tuple[list, int]:
        """The creatives whose campaign takes part in this request (budget pacing; ``pacer``
        None: the job or the request's variant does not pace)."""
        if pacer is None or not pacer.active:   # nobody throttled: the request path pays nothing
            return creatives, 0
        kept = [c for c in creatives if pacer.admits(c.campaign_id, request_id)]
        return kept, len(creatives) - len(kept)

    def _served(self, req: AdRequest, resp: RankedAds, terms: list, rows, decided=None):
        """The served log of this answer; a failure to build it costs the log, never the answer
        (it is dead-lettered with the exception, and counted by the adapter)."""
        try:
            return served_log.build(req, resp, [served_log.AdTerms(b, bid, pcvr) for b, bid, pcvr in terms],
                                    rows, self.featurizer.names,
                                    personalised=decided is None or decided.personalisation,
                                    measured=decided is None or decided.measurement), None
        except Exception as e:
            return None, self._error_letter(req.to_json(), e, "served log")

    def _profile(self, user_id: str | None, source: ProfileSource | None, reasons: list,
                 timings: dict) -> Mapping | None:
        if not user_id:
            reasons.append(ANONYMOUS)
            return None
        t = self.clock()
        try:
            profile = source.read(user_id) if source is not None else None   # profile and attributes
            if not has_profile(profile):
                reasons.append(UNKNOWN_USER if source is not None else PROFILE_SKIPPED)
            return profile
        except Exception as e:
            reasons.append(read_failure(e))
        finally:
            timings["features"] = (self.clock() - t) * 1000.0
        return None

    def expired(self, profile: Mapping, now: int) -> bool:
        """Idle longer than the profile TTL, the same rule as training (``udfs.core.profile.expired``):
        the online store keeps a profile after its TTL, the model was taught it is gone."""
        last = profile.get("last_event_ts")
        return bool(self.profile_ttl_ms is not None and last and now - int(last) > self.profile_ttl_ms)

    def model_of(self, arm: Arm, deps: Deps) -> Model | None:
        """A variant's pinned model when the adapter has it loaded; else the current one
        (the answer's model_version says which ranked it)."""
        return deps.models.get(arm.model_version, deps.model) if arm.model_version else deps.model

    def _auction(self, req: AdRequest, kept: list[Creative], profile: Mapping | None, deps: Deps,
                 reasons: list, timings: dict, arm: Arm, scored=None):
        """The ranked ads of ``kept``. ``scored``, when given, stands in for ``score`` (a batch's
        rows and pCTRs of these creatives, computed with other requests'; same signature)."""
        slot, n, scoring = req.slot, req.num_ads, arm.scoring
        model = self.model_of(arm, deps)
        if model is not None and kept:
            try:
                book, _ = self._ads(deps)
                rows, X, pctr = (scored or self.score)(req, kept, profile, deps, model, timings)
                return self._bid(req, book, rows, X, pctr, deps, reasons, timings, arm, model)
            except Exception:
                reasons.append(MODEL_ERROR)
        elif model is None:
            reasons.append(NO_MODEL_LOADED)
        t = self.clock()
        priors = {c.creative_id: p for c in kept
                  if (p := deps.stats.ctr_prior(c.creative_id)) is not None}
        ads = rank_fallback(kept, deps.catalog, scoring, slot=slot, num_ads=n,
                            creative_priors=priors, page_category=req.context.page_category)
        timings["auction"] = (self.clock() - t) * 1000.0
        version = model.version if model is not None and MODEL_ERROR not in reasons else NO_MODEL
        return ads, version, [self._fallback_terms(a, deps, scoring) for a in ads], None, 0

    def features(self, req: AdRequest, creatives: list[Creative], profile: Mapping | None,
                 deps: Deps) -> tuple[np.ndarray, np.ndarray]:
        """The creatives' catalogue rows and the model's input matrix for them."""
        book, cols = self._ads(deps)
        rows = book.positions(creatives)
        return rows, self.featurizer.matrix(profile, cols.take(rows), RequestView(
            req.ts, req.context.device, req.context.page_category, 1))

    def score(self, req: AdRequest, kept: list[Creative], profile: Mapping | None, deps: Deps,
              model: Model, timings: dict):
        """(rows, matrix, pCTRs) of ``kept``: featurized, then one model call."""
        t = self.clock()
        rows, X = self.features(req, kept, profile, deps)
        t1 = self.clock()
        pctr = _probabilities(model.score(X))
        timings.update(featurize=(t1 - t) * 1000.0, model=(self.clock() - t1) * 1000.0)
        return rows, X, pctr

    def _bid(self, req: AdRequest, book: AdBook, rows, X, pctr, deps: Deps, reasons: list,
             timings: dict, arm: Arm, model: Model):
        t = self.clock()
        drawn = 0
        if arm.exploration and exploration.explores(req.request_id, arm.exploration):
            pctr, drawn = self._explore(pctr, book, rows, deps, req.request_id)
        t2 = self.clock()
        picked: list = []
        ads = auction_arrays.auction(book, rows, pctr, arm.scoring, slot=req.slot, num_ads=req.num_ads,
                                     cpa=deps.stats.cpa, terms=picked)
        # the posterior draws count as the model's time, as they always have
        timings["model"] = timings.get("model", 0.0) + (t2 - t) * 1000.0
        timings["auction"] = (self.clock() - t2) * 1000.0
        if deps.model_stale:
            reasons.append(MODEL_STALE)
        return ads, model.version, [p[1:] for p in picked], X[[p[0] for p in picked]], drawn

    def _explore(self, pctr, book: AdBook, rows, deps: Deps, request_id: str):
        counts = np.array([deps.stats.impressions_clicks(book.creatives[r].creative_id) for r in rows],
                          dtype=np.float64).reshape(-1, 2)
        return exploration.thompson(pctr, counts[:, 0], counts[:, 1], self.explore_params, request_id)

    @staticmethod
    def _fallback_terms(ad, deps: Deps, scoring: Scoring) -> tuple:
        """(bid type, effective bid, pCVR) of a prior-CTR-ranked ad, as ``ranking.auction`` bid it."""
        camp = deps.catalog.campaign(ad.campaign_id)
        bid = camp.bid * ocpa_factor(camp, None, 0, scoring) if camp.bid_type == "oCPA" else camp.bid
        return camp.bid_type, bid, scoring.default_pcvr if camp.bid_type in ("CPA", "oCPA") else None

    def _ads(self, deps: Deps) -> tuple[AdBook, AdColumns]:
        """The catalogue's creatives as auction and feature columns, rebuilt when it (or the
        ad statistics behind the CTR priors) change."""
        key = (id(deps.catalog), deps.catalog.version, id(deps.stats), getattr(deps.stats, "version", 0))
        cached = self._book_cols
        if cached is None or key != self._ads_key:
            book = AdBook(deps.catalog)
            default = self.scoring.fallback_prior_ctr
            views = [AdView(c.creative_id, c.category_id, c.brand_id, float(c.price or 0.0),
                            default if (p := deps.stats.ctr_prior(c.creative_id)) is None else float(p))
                     for c in book.creatives]
            cached = self._book_cols = (book, AdColumns.of(views))
            self._ads_key = key
        return cached

    def _invalid(self, raw: bytes | str, e: MessageError) -> Outcome:
        now = self.wall_ms()
        dl = DeadLetter.of(raw, str(e), e.kind, self.source_topic, now, stage=self.stage,
                           field=e.field)
        rid = _salvage_id(raw)
        if rid is None:
            return Outcome(None, dl, (INVALID,))
        resp = RankedAds(request_id=rid, ts=now, ads=(), model_version=NO_MODEL, variant=self.variant,
                         fallback=True, fallback_reason=safe_text(f"invalid request: {e}")[:256])
        return Outcome(resp, dl, (INVALID,))
