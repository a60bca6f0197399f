"""Flink adapters of the feedback job's two joins (rules: ``udfs.core.pricing``, ``udfs.core.attribution``).

Each is a ``KeyedProcessFunction`` whose per-key state is one ValueState holding the core's
plain state object, and whose event-time timer fires at the state's ``wake()`` time, so
orphans are named and finished keys are cleared as the watermark passes them. Input rows
are the raw value with a two-character prefix the job's SQL adds: the record's kind
(``TAGS``) and ``1`` (a value) or ``0`` (a record without one).

Output rows: (``A``, campaign id, Attributed), (``P``, impression id, Priced — the first
join's, for the second), (``T``, impression id, TrainingRow — the second join's, for the
training log) and (``D``, key, DeadLetter JSON). One bad record never fails the task:
whatever raises while one record is handled becomes its dead letter (kind ``error``); the
state is only written after the record was handled. A timer that raises dead-letters its
key's state and clears it, so one broken state cannot stop the job or fire forever.
"""
from __future__ import annotations

import logging
import time

from pyflink.common import Row, Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from udfs import config
from udfs.core import attribution, pricing
from udfs.core.pricing import Outputs
from udfs.core.record_guard import describe, error_letter, null_letter
from udfs.errors import MessageError
from udfs.io import job_logs
from udfs.messages import AdClick, Conversion, DeadLetter, Impression, ServedLog
from udfs.messages.bounds import TimeBounds
from udfs.messages.dead_letter import REASONS as DEAD_KINDS

ATTRIBUTED, PRICED, DEAD, TRAINING = "A", "P", "D", "T"
OUTPUT_TYPE = Types.ROW_NAMED(["kind", "k", "v"], [Types.STRING(), Types.STRING(), Types.STRING()])
# record kind -> (topic key in cfg.kafka.topics, wire format); "P" is internal (no topic, no decode)
TAGS = {"S": ("served_log", ServedLog), "I": ("impressions", Impression), "C": ("ad_clicks", AdClick),
        "V": ("conversions", Conversion)}
RECORD_TAGS = {"impression": "I", "click": "C", "conversion": "V"}   # a timer's rejects name their record
log = logging.getLogger("adstream.feedback")


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class _Join(KeyedProcessFunction):
    """What both joins share: decoding, lateness, timers, dead letters, counters."""
    STAGE = ""
    STATE = ""

    def __init__(self, cfg_dict: dict, job: str):
        self.cfg_dict, self.job = cfg_dict, job

    def open(self, ctx: RuntimeContext):
        cfg = self.cfg = config.from_dict(self.cfg_dict)
        job_logs.job_logger(cfg, self.job, log.name)
        self.bounds = TimeBounds.from_config(cfg.messages)
        self.lateness = cfg.feedback.allowed_lateness_ms
        self.max_dead_bytes = cfg.dead_letter.max_bytes
        self.topics = {tag: getattr(cfg.kafka.topics, key).name for tag, (key, _) in TAGS.items()}
        self.state = ctx.get_state(ValueStateDescriptor(self.STATE, Types.PICKLED_BYTE_ARRAY()))
        group = ctx.get_metrics_group().add_group("adstream")
        self.counters = {k: group.counter(k) for k in ("records", "attributed", "errors", "training_rows")}
        self.dead = {k: group.counter(f"dead_letters_{k}") for k in DEAD_KINDS}
        self.setup(cfg)

    def setup(self, cfg) -> None: ...

    def new_state(self): ...

    def on_record(self, st, tag: str, msg, raw: str, out: Outputs) -> None: ...

    def expire(self, st, watermark: int, out: Outputs) -> bool: ...

    def wake(self, st) -> int | None: ...

    def process_element(self, value, ctx: "KeyedProcessFunction.Context"):
        self.counters["records"].inc()
        line = value if isinstance(value, str) else None
        tag = line[:1] if line else ""
        try:
            if tag not in TAGS and tag != PRICED:
                raise ValueError(f"record of unknown kind {tag!r} reached {self.STAGE}")
            topic = self.topics.get(tag, "")
            if line[1:2] != "1":
                yield self._dead(null_letter(topic, _wall_ms(), self.STAGE), ctx.get_current_key())
                return
            raw = line[2:]
            rows = list(self._handle(tag, raw, topic, ctx))
        except Exception as e:   # one record's failure is its own, never the task's
            self.counters["errors"].inc()
            log.warning("%s: record failed, dead-lettered: %s", self.STAGE, describe(e), exc_info=True)
            rows = [self._dead(error_letter(line[2:] if line else value, e, self.STAGE,
                                            self.topics.get(tag, ""), _wall_ms(), self.STAGE),
                               ctx.get_current_key())]
        yield from rows

    def _handle(self, tag: str, raw: str, topic: str, ctx):
        wm = ctx.timer_service().current_watermark()
        if tag == PRICED:
            msg = pricing.Priced.decode(raw)
        else:
            try:
                msg = TAGS[tag][1].decode(raw, bounds=self.bounds, now_ms=_wall_ms())
            except MessageError as e:
                yield self._dead(DeadLetter.of(raw, str(e), e.kind, topic, _wall_ms(), stage=self.STAGE,
                                               field=e.field), ctx.get_current_key())
                return
            why = pricing.late(msg.ts, wm, self.lateness)
            if why is not None:
                yield self._dead(DeadLetter.of(raw, why, "late", topic, _wall_ms(), stage=self.STAGE,
                                               field="ts"), ctx.get_current_key())
                return
        st = self.state.value() or self.new_state()
        out = Outputs()
        self.on_record(st, tag, msg, raw, out)
        yield from self._emit(out, tag, ctx)
        self._keep(st, ctx)

    def on_timer(self, timestamp: int, ctx: "KeyedProcessFunction.OnTimerContext"):
        st = self.state.value()
        if st is None:
            return
        out = Outputs()
        try:
            done = self.expire(st, timestamp, out)
            rows = list(self._emit(out, None, ctx))
        except Exception as e:   # as a record's: the key's own failure, never the task's
            self.counters["errors"].inc()
            log.warning("%s: timer failed for key %r, its state dead-lettered and cleared: %s",
                        self.STAGE, ctx.get_current_key(), describe(e), exc_info=True)
            yield self._dead(error_letter(repr(st)[:100_000], e, f"{self.STAGE} timer", "", _wall_ms(), self.STAGE),
                             ctx.get_current_key())
            self.state.clear()
            return
        yield from rows
        if done:
            self.state.clear()
        else:
            self._keep(st, ctx)

    def _keep(self, st, ctx) -> None:
        self.state.update(st)
        t = self.wake(st)
        if t is not None:
            ctx.timer_service().register_event_time_timer(t)

    def _emit(self, out: Outputs, tag: str | None, ctx):
        for a in out.attributed:
            self.counters["attributed"].inc()
            yield Row(ATTRIBUTED, a.campaign_id, a.encode())
        for p in out.priced:
            yield Row(PRICED, p.impression_id, p.encode())
        for t in out.training:
            self.counters["training_rows"].inc()
            yield Row(TRAINING, t.impression_id, t.encode().decode())
        for r in out.rejected:
            topic = self.topics.get(tag) or self.topics.get(RECORD_TAGS.get(r.record, ""), "")
            yield self._dead(DeadLetter.of(r.raw, r.reason, r.kind, topic, _wall_ms(), stage=self.STAGE,
                                           field=r.field), ctx.get_current_key())

    def _dead(self, dl: DeadLetter, key) -> Row:
        self.dead[dl.kind].inc()
        return Row(DEAD, key if isinstance(key, str) else None, dl.to_bounded_json(self.max_dead_bytes))


class PricingFunction(_Join):
    """Keyed by request id: served log ⨝ impressions (``udfs.core.pricing``)."""
    STAGE = "feedback.pricing.v1"
    STATE = "request"

    def setup(self, cfg):
        self.w = pricing.Windows.from_config(cfg)

    def new_state(self):
        return pricing.RequestState()

    def on_record(self, st, tag, msg, raw, out):
        if tag == "S":
            pricing.on_served(st, msg, raw, out, self.w)
        elif tag == "I":
            pricing.on_impression(st, msg, raw, out, self.w)
        else:
            raise ValueError(f"a {TAGS[tag][0]} record reached {self.STAGE}")

    def expire(self, st, watermark, out):
        return pricing.expire(st, watermark, out, self.w)

    def wake(self, st):
        return st.wake(self.w)


class AttributionFunction(_Join):
    """Keyed by impression id: priced impressions ⨝ clicks ⨝ conversions (``udfs.core.attribution``)."""
    STAGE = "feedback.attribution.v1"
    STATE = "impression"

    def setup(self, cfg):
        self.w = attribution.Windows.from_config(cfg)

    def new_state(self):
        return attribution.ImpressionState()

    def on_record(self, st, tag, msg, raw, out):
        if tag == PRICED:
            attribution.on_priced(st, msg, out, self.w)
        elif tag == "C":
            attribution.on_click(st, msg, raw, out, self.w)
        elif tag == "V":
            attribution.on_conversion(st, msg, raw, out, self.w)
        else:
            raise ValueError(f"a {TAGS[tag][0]} record reached {self.STAGE}")

    def expire(self, st, watermark, out):
        return attribution.expire(st, watermark, out, self.w)

    def wake(self, st):
        return st.wake(self.w)


class SeenFunction(KeyedProcessFunction):
    """Keyed by user id: each attributed impression (a Priced row) folded into the user's caps
    state (``udfs.core.seen``), which is written to the online store at once.

    At once, not batched: PyFlink gives a process function no hook at checkpoint time, so a
    batch held in memory across a checkpoint would be lost by a crash (the state has the
    impression, the store would not, and nothing replays it). Each write is the whole
    state, so a replay after a restart rewrites the same value."""
    STAGE = "feedback.seen.v1"

    def __init__(self, cfg_dict: dict, job: str):
        self.cfg_dict, self.job = cfg_dict, job

    def open(self, ctx: RuntimeContext):
        from pyflink.common import Time
        from pyflink.datastream.state import StateTtlConfig

        from udfs.core.caps import FrequencyCaps
        cfg = self.cfg = config.from_dict(self.cfg_dict)
        job_logs.job_logger(cfg, self.job, log.name)
        self.caps = FrequencyCaps.from_config(cfg.scoring)
        self.max_dead_bytes = cfg.dead_letter.max_bytes
        desc = ValueStateDescriptor("seen", Types.PICKLED_BYTE_ARRAY())
        rules = cfg.scoring.campaign_caps + cfg.scoring.creative_caps
        if rules:   # a user's counts are useless once the longest window has passed
            desc.enable_time_to_live(
                StateTtlConfig.new_builder(Time.seconds(max(r.window_s for r in rules)))
                .set_update_type(StateTtlConfig.UpdateType.OnCreateAndWrite)
                .set_state_visibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
                .cleanup_full_snapshot().build())
        self.state = ctx.get_state(desc)
        self.writer = self.make_writer(cfg)
        from udfs.flink.feedback_erasure import SeenEraser
        ttl = StateTtlConfig.new_builder(Time.seconds(max([r.window_s for r in rules],
                                                          default=cfg.profile.windows.state_ttl_s))) \
            .set_update_type(StateTtlConfig.UpdateType.OnCreateAndWrite).cleanup_full_snapshot().build()
        self.eraser = SeenEraser(ctx, ttl, self.writer, self.job)
        group = ctx.get_metrics_group().add_group("adstream")
        self.counters = {k: group.counter(k) for k in ("seen_written", "seen_write_retries", "errors",
                                                       "erasures", "suppressed")}

    def make_writer(self, cfg):
        """The online writer (a seam: the flink-tier test hands in one that keeps the rows)."""
        from udfs.io.seen_store import SeenWriter
        return SeenWriter(cfg)

    def close(self):
        writer = getattr(self, "writer", None)
        if writer is not None:
            writer.close()

    def process_element(self, value, ctx: "KeyedProcessFunction.Context"):
        from udfs.core import seen
        user_id = ctx.get_current_key()
        try:
            if value[:1] == "E":    # an erasure request (udfs/flink/feedback_erasure.py)
                yield self.eraser.erase(self.state, user_id, value, self._retry)
                self.counters["erasures"].inc()
                return
            p = pricing.Priced.decode(value[2:])
            if not p.personalised:   # no personalisation consent: no caps state for the user
                return
            if self.eraser.suppressed(p.ts):   # from before the user's erasure: not counted again
                self.counters["suppressed"].inc()
                return
            st = self.state.value() or {}
            seen.fold(st, self.caps, user_id, p)
        except Exception as e:   # a record this stage cannot read is a bug upstream: say so, go on
            self.counters["errors"].inc()
            log.warning("%s: record failed, dead-lettered: %s", self.STAGE, describe(e), exc_info=True)
            dl = error_letter(value, e, self.STAGE, "", _wall_ms(), self.STAGE)
            yield Row(DEAD, user_id, dl.to_bounded_json(self.max_dead_bytes))
            return
        self.state.update(st)
        if not self.caps.rules["campaign"] and not self.caps.rules["creative"]:
            return
        rows = [(user_id, seen.encode(st), p.ts)]
        self._retry(lambda: self.writer.write(rows))
        self.counters["seen_written"].inc()

    def _retry(self, write):
        from udfs.io.retry import retry_for

        def told(delay, e):
            self.counters["seen_write_retries"].inc()
            log.warning("seen write failed, retrying in %.2f s: %s", delay, describe(e))
        # Store failures are the infrastructure's: after the retries they fail the task (restart).
        return retry_for(write, self.cfg.feedback.write_retry_ms / 1000, told)


class StatsFunction(KeyedProcessFunction):
    """Keyed by campaign id: attributed events folded into the campaign's statistics
    (``udfs.core.ad_stats``), written to the online store at most every
    ``feedback.write_interval_ms`` per campaign.

    The write is scheduled with a processing-time timer when a campaign first changes; timers
    are part of the checkpoint, so a write due when the job crashed is made after the
    restore (the state then holds what the timer will write). Values are absolute."""
    STAGE = "feedback.stats.v1"

    def __init__(self, cfg_dict: dict, job: str):
        self.cfg_dict, self.job = cfg_dict, job

    def open(self, ctx: RuntimeContext):
        from udfs.core.ad_stats import StatsParams
        cfg = self.cfg = config.from_dict(self.cfg_dict)
        job_logs.job_logger(cfg, self.job, log.name)
        self.params = StatsParams.from_config(cfg)
        self.max_dead_bytes = cfg.dead_letter.max_bytes
        self.state = ctx.get_state(ValueStateDescriptor("stats", Types.PICKLED_BYTE_ARRAY()))
        self.writer = self.make_writer(cfg)
        group = ctx.get_metrics_group().add_group("adstream")
        self.counters = {k: group.counter(k) for k in ("stats_events", "stats_written", "stats_stale",
                                                       "stats_write_retries", "errors")}

    def make_writer(self, cfg):
        """The online writer (a seam: the flink-tier test hands in one that keeps the rows)."""
        from udfs.io.ad_stats_store import AdStatsWriter
        return AdStatsWriter(cfg)

    def close(self):
        writer = getattr(self, "writer", None)
        if writer is not None:
            writer.close()

    def process_element(self, value, ctx: "KeyedProcessFunction.Context"):
        from udfs.core import ad_stats
        from udfs.core.attributed import Attributed
        try:
            ev = Attributed.decode(value)
            st = self.state.value() or ad_stats.CampaignStats()
            stale = st.stale
            ad_stats.apply(st, ev, self.params)
        except Exception as e:   # a record this stage cannot read is a bug upstream: say so, go on
            self.counters["errors"].inc()
            log.warning("%s: record failed, dead-lettered: %s", self.STAGE, describe(e), exc_info=True)
            dl = error_letter(value, e, self.STAGE, "", _wall_ms(), self.STAGE)
            yield Row(DEAD, ctx.get_current_key(), dl.to_bounded_json(self.max_dead_bytes))
            return
        self.counters["stats_events"].inc()
        if st.stale > stale:
            self.counters["stats_stale"].inc()
        if not st.pending:
            st.pending = True
            ctx.timer_service().register_processing_time_timer(
                ctx.timer_service().current_processing_time() + self.cfg.feedback.write_interval_ms)
        self.state.update(st)

    def on_timer(self, timestamp: int, ctx: "KeyedProcessFunction.OnTimerContext"):
        from udfs.core import ad_stats
        from udfs.io.retry import retry_for
        st = self.state.value()
        if st is None or not st.pending:
            return
        camp, crs = ad_stats.snapshot(st, self.params)

        def told(delay, e):
            self.counters["stats_write_retries"].inc()
            log.warning("ad statistics write failed, retrying in %.2f s: %s", delay, describe(e))
        # Store failures are the infrastructure's: after the retries they fail the task (restart).
        retry_for(lambda: self.writer.write({st.campaign_id: camp}, crs, st.latest),
                  self.cfg.feedback.write_retry_ms / 1000, told)
        self.counters["stats_written"].inc()
        st.pending = False
        self.state.update(st)
        yield from ()
