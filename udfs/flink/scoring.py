"""Flink adapter of the scoring step: keyed caps state, Feast, the ONNX model, the catalogue.

No business rules here (``udfs.core.scoring.RequestScorer`` has them). Keyed by user
id (anonymous requests by request id), so each user's frequency-cap counts live in
one ValueState — one state read and at most one write per request — that expires
after the longest cap window. ``open`` loads the catalogue (file, then the
compacted topic to its end), the current model and a profile reader (Feast's
online layout, read directly: udfs/io/online_read.py) whose Redis socket timeouts
bound every read. Between requests, at most every
``catalog_poll_ms`` / ``model_poll_ms``, catalogue changes are applied and the
registry pointer is checked; both happen on the operator's own thread, so a request
always sees one catalogue and one model.

Output rows: (``R``, request_id, RankedAds JSON), (``S``, request_id, ServedLog JSON: what an
answer to a decoded request offered and why) or (``D``, key, DeadLetter JSON).

One bad request never fails the task (docs/reliability.md): whatever raises while one
request is handled — its caps state, the scoring step, encoding the answer — ends in
``RequestScorer.failed``: a dead letter naming the exception and, when a request id can
be read, an empty flagged answer. A null value (tombstone) is a dead letter. Every
dead letter is cut to ``dead_letter.max_bytes``. Logs go to the job's ``python.log``.
"""
from __future__ import annotations

import logging
import time

from pyflink.common import Row, Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from udfs import config
from udfs.flink.gauges import LastValue
from udfs.flink.ttl import ttl_config
from udfs.io import job_logs
from udfs.core.caps import FrequencyCaps
from udfs.errors import ModelError
from udfs.messages.dead_letter import REASONS as DEAD_KINDS
from udfs.core.record_guard import describe, null_letter

RESPONSE, DEAD, SERVED = "R", "D", "S"
AUDIT = "U"     # output row: an erasure's audit record (ErasureAudit JSON)
ERASURE = "E"   # input prefix: an erasure request (jobs/scoring.py keys it by its user)
OUTPUT_TYPE = Types.ROW_NAMED(["kind", "k", "v"], [Types.STRING(), Types.STRING(), Types.STRING()])
STAGE = "scoring.rank.v1"
COUNTERS = ("requests", "responses", "fallback", "dead_letters", "capped", "model_reloads",
            "model_reload_failures", "catalog_changes", "catalog_invalid", "creatives_rejected",
            "breaker_opened", "errors", "refresh_errors", "unanswered", "stats_errors", "paced",
            "experiments_reloads", "experiments_refused", "experiment_model_errors", "explored")
log = logging.getLogger("adstream.scoring")


def _ms() -> float:
    return time.monotonic() * 1000.0


class ScoringFunction(KeyedProcessFunction):
    def __init__(self, cfg_dict: dict, catalog_file: str | None, job: str):
        self.cfg_dict = cfg_dict
        self.catalog_file = catalog_file
        self.job = job

    # ------------------------------------------------------------------ setup
    def open(self, ctx: RuntimeContext):
        from udfs.core.featurize import Featurizer
        from udfs.io.online_read import guarded_reader
        from udfs.core.scoring import REASONS, RequestScorer
        cfg = self.cfg = config.from_dict(self.cfg_dict)
        job = cfg.scoring_job
        job_logs.job_logger(cfg, self.job, log.name)   # a file: the worker's stderr is nobody's
        self.max_dead_bytes = cfg.dead_letter.max_bytes
        self.caps = FrequencyCaps.from_config(cfg.scoring)
        rules = cfg.scoring.campaign_caps + cfg.scoring.creative_caps
        desc = ValueStateDescriptor("caps", Types.PICKLED_BYTE_ARRAY())
        if rules:
            # A user's counts are useless once the longest window has passed without an impression.
            desc.enable_time_to_live(ttl_config(max(r.window_s for r in rules)))
        self.caps_state = ctx.get_state(desc)
        group = ctx.get_metrics_group().add_group("adstream")
        self.counters = {k: group.counter(k) for k in COUNTERS}
        self.reason_counters = {r: group.counter(f"fallback_{r}") for r in REASONS}
        self.dead_counters = {k: group.counter(f"dead_letters_{k}") for k in DEAD_KINDS}
        # The last answer's step time (its timings_ms total), stored in ms, reported in µs: one
        # float assignment per request (udfs/flink/gauges.py says why not a distribution).
        self.step = LastValue(scale=1000.0).register(group, "step_us")

        self._open_catalog(cfg)
        # The feedback loop's statistics and spend, read between requests (udfs/core/live_stats.py).
        from udfs.core.live_stats import LiveStats, SpendBudget
        from udfs.io.ad_stats_store import AdStatsReader
        self.stats = LiveStats()
        self.budget = SpendBudget(self.keeper.catalog, self.stats, lambda: time.time_ns() // 1_000_000)
        self.stats_reader = AdStatsReader(cfg, socket_timeout_ms=job.stats_timeout_ms)
        # Always kept up to date: an experiment's variant may pace where the job's default does not.
        from udfs.core.pacing import Pacer, PacingParams
        self.pacer = Pacer(PacingParams.from_config(cfg.scoring.pacing))
        self.next_stats_poll = 0.0
        self.next_catalog_poll = _ms() + job.catalog_poll_ms

        self.featurizer = Featurizer(cfg.profile.windows.count_windows_s)
        self.watcher = self._watcher(cfg)
        first = self.watcher.poll(force=True)
        if first == "failed":   # the watcher logged why
            self.counters["model_reload_failures"].inc()
        elif self.watcher.model is None:
            log.warning("no model promoted in %s yet: prior-CTR ranking until one is",
                        cfg.path("model_registry"))
        self.profiles, self.reader = guarded_reader(cfg, _ms, log.warning)
        self.breaker = self.profiles.breaker
        self.scorer = RequestScorer.for_job(cfg, self.featurizer, STAGE)
        self._open_experiments(cfg)
        self.breaker_seen = 0
        # The catalogue, model and readers live as long as the job: move them out of the
        # collector's way, so a full collection does not rescan them during a request.
        import gc
        gc.collect()
        gc.freeze()

    def _open_catalog(self, cfg) -> None:
        """The catalogue: the file, then the compacted topic to its end."""
        from udfs.io.catalog_feed import CatalogKeeper, TopicFollower
        job = cfg.scoring_job
        topic = cfg.kafka.topics.catalog.name
        self.keeper = CatalogKeeper(cfg.scoring.review, topic, stage=STAGE, log=log.warning)
        if self.catalog_file:
            n = self.keeper.load_file(self.catalog_file)
            log.info("catalogue: %d entities from %s", n, self.catalog_file)
        self.follower = TopicFollower(cfg.kafka.bootstrap, topic)
        self.pending_dead = [dl for k, v in self.follower.catch_up(job.catalog_catchup_s)
                             if (dl := self.keeper.apply(k, v)) is not None]
        log.info("catalogue: %d changes from topic %s (%d invalid, %d creatives rejected by review)",
                 self.keeper.applied, topic, self.keeper.invalid, self.keeper.rejected)
        for name, n in zip(("catalog_changes", "catalog_invalid", "creatives_rejected"),
                           (self.keeper.applied, self.keeper.invalid, self.keeper.rejected)):
            self.counters[name].inc(n)

    def _watcher(self, cfg):
        import numpy as np

        from udfs.core.model_store import POINTER, ModelStore
        from udfs.core.model_watch import ModelWatcher
        from udfs.io.onnx_scorer import OnnxScorer
        store = ModelStore(cfg.path("model_registry"))
        names = self.featurizer.names
        threads = cfg.scoring_job.onnx_threads

        def load(path):
            sc = OnnxScorer(path, threads)
            if sc.features != names:
                raise ModelError(f"model reads {len(sc.features)} features that are not the live "
                                 f"feature list ({len(names)})")
            sc.score(np.zeros((2, len(names)), dtype=np.float32))   # warm up before serving
            return sc

        self._store, self._load_model = store, load
        return ModelWatcher(store.root / POINTER, store.current_dir, load,
                            cfg.scoring_job.model_poll_ms, _ms, log.warning)

    def _open_experiments(self, cfg) -> None:
        from udfs.io.experiment_watch import ExperimentWatcher
        self.assigner, self.pinned = None, {}
        self.experiment_watch = ExperimentWatcher(cfg.scoring_job.experiments_file,
                                                  cfg.scoring_job.experiments_poll_ms, _ms, log.warning)
        self._experiments_event(self.experiment_watch.poll(force=True))

    def _experiments_event(self, event) -> None:
        """A changed experiments file: the new assigner, and the models its variants pin (loaded
        now, between requests; one that fails is logged and counted, its variant ranks with
        the current model and says so in model_version)."""
        from udfs.core.experiments import Assigner
        if event == "failed":
            self.counters["experiments_refused"].inc()
        if event != "loaded":
            return
        self.counters["experiments_reloads"].inc()
        exps = self.experiment_watch.experiments
        assigner = Assigner(exps, self.cfg.scoring, self.cfg.scoring_job.variant,
                            pacing=self.cfg.scoring.pacing.enabled) if exps.experiments else None
        pinned = {}
        for v in sorted(assigner.model_versions if assigner else ()):
            try:
                pinned[v] = self.pinned.get(v) or self._load_model(self._store.get(v).path)
            except Exception as e:
                self.counters["experiment_model_errors"].inc()
                log.warning("experiment model %s not loaded, its variant ranks with the current model: %s",
                            v, describe(e))
        self.assigner, self.pinned = assigner, pinned
        log.info("experiments: %s", ", ".join(e.name for e in exps.experiments) or "none")

    def close(self):
        for name in ("follower", "stats_reader"):
            part = getattr(self, name, None)
            if part is not None:
                part.close()

    # --------------------------------------------------------------- per request
    def _refresh(self):
        """Catalogue changes and model promotions, applied between two requests."""
        now = _ms()
        dead, self.pending_dead = self.pending_dead, []
        if now >= self.next_catalog_poll:
            self.next_catalog_poll = now + self.cfg.scoring_job.catalog_poll_ms
            k = self.keeper
            before = (k.applied, k.invalid, k.rejected)
            dead += [dl for key, v in self.follower.poll() if (dl := k.apply(key, v)) is not None]
            for name, b, a in zip(("catalog_changes", "catalog_invalid", "creatives_rejected"),
                                  before, (k.applied, k.invalid, k.rejected)):
                if a > b:
                    self.counters[name].inc(a - b)
        if now >= self.next_stats_poll:
            self.next_stats_poll = now + self.cfg.scoring_job.stats_poll_ms
            self._read_stats()
        self._experiments_event(self.experiment_watch.poll())
        event = self.watcher.poll()
        if event == "loaded":
            self.counters["model_reloads"].inc()
        elif event == "failed":
            self.counters["model_reload_failures"].inc()
        return dead

    def _read_stats(self) -> None:
        """Every live creative's and campaign's statistics, one round trip. A failed read keeps
        the last values (counted, logged): budgets may then lag the spend by the outage."""
        cat = self.keeper.catalog
        try:
            crs, cms = self.stats_reader.read([c.creative_id for c in cat.creatives()],
                                              [c.campaign_id for c in cat.campaigns()])
        except Exception as e:
            self.counters["stats_errors"].inc()
            log.warning("ad statistics read failed, keeping the last: %s", describe(e))
            return
        self.stats.update(crs, cms)
        if self.pacer is not None:
            now = time.time_ns() // 1_000_000   # the spend's clock (SpendBudget): the answers'
            self.pacer.update([(c.campaign_id, c.daily_budget, self.stats.spent(c.campaign_id, now))
                               for c in cat.campaigns()], now)

    def process_element(self, value, ctx: "KeyedProcessFunction.Context"):
        if value is not None and value[:1] == ERASURE:
            yield from self._erase(value, ctx.get_current_key())
            return
        rows = self._refresh_rows()
        try:
            rows += self._answer(value)
        except Exception as e:   # one request's failure is its own, never the task's
            rows += self._failed(value, e)
        yield from rows

    def _erase(self, value: str, user_id: str):
        """An erasure request: the user's caps counts dropped; its audit record. A request that
        cannot be read is a dead letter (the profile job says the same of it)."""
        from udfs.core import erasure as E
        from udfs.core.record_guard import error_letter
        from udfs.messages import ErasureRequest
        try:
            req = ErasureRequest.decode(value[1:])
        except Exception as e:   # noqa: BLE001 - one record's fault
            dl = error_letter(value[1:], e, "erasure request", self.cfg.kafka.topics.erasure.name,
                              time.time_ns() // 1_000_000, STAGE)
            yield Row(DEAD, user_id, dl.to_bounded_json(self.max_dead_bytes))
            return
        held = self.caps_state.value() or {}
        self.caps_state.clear()
        stores = {E.SCORING_CAPS: sum(len(v) for v in held.values())}
        log.info("erasure %s done: %s", req.request_id, stores)
        yield Row(AUDIT, user_id, E.audit(req, self.job, stores, time.time_ns() // 1_000_000).to_json())

    def _refresh_rows(self) -> list:
        try:
            dead = self._refresh()
        except Exception as e:   # a stale catalogue or model for a while, not a failed task
            self.counters["refresh_errors"].inc()
            log.warning("catalogue/model refresh failed: %s", describe(e), exc_info=True)
            return []
        return [self._dead_row(None, dl) for dl in dead]

    def _answer(self, value) -> list:
        from udfs.core.scoring import Deps, ImpressionCaps, Outcome
        self.counters["requests"].inc()
        if value is None:
            out = Outcome(None, null_letter(self.scorer.source_topic, self.scorer.wall_ms(), STAGE))
        else:
            state = self.caps_state.value() or {}
            self.reader.forget()
            caps = ImpressionCaps(self.caps, state, self._stored_seen, self.cfg.scoring_job.caps_reconcile_ms)
            model = self.watcher.model
            deps = Deps(self.keeper.catalog, self.budget, caps, self.profiles, model, stats=self.stats,
                        pacing=self.pacer, model_stale=model is not None and self.watcher.last_error is not None,
                        experiments=self.assigner, models=self.pinned)
            out = self.handle(value, deps)
            if caps.changed:
                self.caps_state.update(state)
        rows = self._rows(out)   # encoded before counting: an encoding error is this request's
        self._count(out)
        return rows

    def _stored_seen(self):
        """The caps state the feedback job stored for the user this request's profile read was for."""
        from udfs.core.seen import decode
        uid = self.reader.seen[0] if self.reader.seen is not None else None
        entries = self.reader.seen_of(uid) if uid is not None else None
        return None if entries is None else decode(entries)

    def handle(self, value, deps):
        """The scoring step (a seam: tests subclass it to fail on purpose)."""
        return self.scorer.handle(value, deps)

    def _failed(self, value, exc: Exception) -> list:
        self.counters["errors"].inc()
        log.warning("request failed, dead-lettered: %s", describe(exc), exc_info=True)
        try:
            out = self.scorer.failed(value, exc, "scoring")
            rows = self._rows(out)
            self._count(out)
            return rows
        except Exception as e2:   # last resort: lose this request's answer, keep the job
            self.counters["unanswered"].inc()
            log.error("could not even dead-letter a request: %s", describe(e2), exc_info=True)
            return []

    def _rows(self, out) -> list:
        rows = []
        rid = out.response.request_id if out.response is not None else None
        if out.dead_letter is not None:
            rows.append(self._dead_row(rid, out.dead_letter, count=False))
        if out.response is not None:
            rows.append(Row(RESPONSE, rid, out.response.to_json()))
        if out.served is not None:
            rows.append(Row(SERVED, rid, out.served.to_json()))
        return rows

    def _dead_row(self, key, dl, count: bool = True):
        if count:
            self.counters["dead_letters"].inc()
            self.dead_counters[dl.kind].inc()
        return Row(DEAD, key, dl.to_bounded_json(self.max_dead_bytes))

    def _count(self, out) -> None:
        c = self.counters
        if out.capped:
            c["capped"].inc(out.capped)
        if out.paced:
            c["paced"].inc(out.paced)
        if out.explored:
            c["explored"].inc(out.explored)
        if out.dead_letter is not None:
            c["dead_letters"].inc()
            self.dead_counters[out.dead_letter.kind].inc()
        if out.response is not None:
            c["responses"].inc()
            self.step.value = out.response.timings_ms.get("total", self.step.value)
            if out.response.fallback:
                c["fallback"].inc()
        for r in out.reasons:
            if r in self.reason_counters:
                self.reason_counters[r].inc()
        if self.breaker.times_opened > self.breaker_seen:
            c["breaker_opened"].inc(self.breaker.times_opened - self.breaker_seen)
            self.breaker_seen = self.breaker.times_opened
