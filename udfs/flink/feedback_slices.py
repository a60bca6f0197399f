"""Flink adapters of the feedback job's two store-writing stages, one call per key and slice.

As the profile job's step: the job's SQL gathers a key's records of one processing-time
slice into a JSON array, and one Python call folds them all into the key's state and writes
the result to the online store in one pipeline *before it returns*:

- ``SeenFunction`` (``feedback.seen.v2``): keyed by one of ``feedback.seen_shards`` fixed
  shards of the user id; priced impressions → what each user has seen (``udfs.core.seen``,
  a MapState user → caps state under the shard key), every changed user written once.
- ``StatsFunction`` (``feedback.stats.v1``): keyed by campaign id; attributed events → the
  campaign's and its creatives' statistics and spend (``udfs.core.ad_stats``), written once
  a slice of ``feedback.write_interval_ms``.

Why per slice: a JVM ↔ Python crossing with its state read and write per record, and (seen)
a Redis round trip per impression while the task thread waited, were most of the job's
Python time (py-spy, docs/benchmarks.md). Why the write is inside the call and never
buffered across calls: PyFlink gives a function no hook at checkpoint time, so a buffer held
across calls would be lost by a crash after a checkpoint that already counted its records.
Writes carry absolute values (the whole state), so a replay after a restart rewrites the
same bytes. Why fixed shards (seen), never the parallelism: a restore at another parallelism
then moves whole Flink key groups and orphans no user (changing ``seen_shards`` does).

A slice that is not a JSON array, or one line of it that does not decode, is dead-lettered
(kind ``error``, the stage named) and the rest of the slice goes on.
"""
from __future__ import annotations

import json

from pyflink.common import Row, Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext

from udfs import config
from udfs.core.record_guard import describe, error_letter
from udfs.flink.feedback import DEAD, log, wall_ms
from udfs.flink.gauges import LastValue, age_ms
from udfs.io import job_logs


class _Slices(KeyedProcessFunction):
    """What both stages share: config, writer, counters, slice parsing, dead letters, retries."""
    STAGE = ""
    COUNTERS: tuple[str, ...] = ()

    def __init__(self, cfg_dict: dict, job: str):
        self.cfg_dict, self.job = cfg_dict, job

    def open(self, ctx: RuntimeContext):
        cfg = self.cfg = config.from_dict(self.cfg_dict)
        job_logs.job_logger(cfg, self.job, log.name)
        self.max_dead_bytes = cfg.dead_letter.max_bytes
        self.setup(cfg, ctx)
        self.writer = self.make_writer(cfg)
        group = ctx.get_metrics_group().add_group("adstream")
        self.counters = {k: group.counter(k) for k in (*self.COUNTERS, "errors")}
        self.gauges(group)

    def gauges(self, group) -> None: ...

    def setup(self, cfg, ctx) -> None: ...

    def make_writer(self, cfg): ...

    def fold(self, lines: list, key, dead: list) -> list:
        """Fold one slice's lines into state and write it; a failing line goes to ``dead``.
        Returns the rows the stage emits besides dead letters (the seen stage's audit records)."""
        return []

    def close(self):
        writer = getattr(self, "writer", None)
        if writer is not None:
            writer.close()

    def process_element(self, value, ctx: "KeyedProcessFunction.Context"):
        key = ctx.get_current_key()
        try:
            lines = json.loads(value)
            if not isinstance(lines, list):
                raise ValueError(f"a slice must be a JSON array, not {type(lines).__name__}")
        except Exception as e:   # the job's own SQL made it: a bug upstream, said and skipped
            yield self._dead(value, e, key)
            return
        dead: list = []
        yield from self.fold(lines, key, dead)
        for line, e in dead:
            yield self._dead(line, e, key)

    def _each(self, lines: list, dead: list, decode, apply) -> int:
        """``apply(decode(line))`` for every line; a line that is not a string, does not decode or
        whose ``apply`` raises goes to ``dead`` (what ``apply`` changed before it raised stays:
        the folds are total over decoded records, so that is a bug's trace, not a path).
        Returns how many lines were applied."""
        n = 0
        for line in lines:
            try:
                if not isinstance(line, str):
                    raise ValueError(f"a slice's line must be a string, not {type(line).__name__}")
                apply(decode(line))
                n += 1
            except Exception as e:   # one line's failure is its own, never the slice's
                dead.append((line, e))
        return n

    def _write(self, what: str, write):
        from udfs.io.retry import retry_for

        def told(delay, e):
            self.counters[f"{what}_write_retries"].inc()
            log.warning("%s write failed, retrying in %.2f s: %s", what, delay, describe(e))
        # Store failures are the infrastructure's: after the retries they fail the task (restart).
        return retry_for(write, self.cfg.feedback.write_retry_ms / 1000, told)

    def _dead(self, value, e: Exception, key) -> Row:
        self.counters["errors"].inc()
        log.warning("%s: record failed, dead-lettered: %s", self.STAGE, describe(e), exc_info=True)
        text = value if isinstance(value, str) else repr(value)
        dl = error_letter(text, e, self.STAGE, "", wall_ms(), self.STAGE)
        return Row(DEAD, str(key), dl.to_bounded_json(self.max_dead_bytes))


class SeenFunction(_Slices):
    """Keyed by seen shard; a slice's lines are encoded ``Priced`` impressions and erasure
    requests (``E`` + the request: udfs/flink/feedback_erasure.py)."""
    STAGE = "feedback.seen.v2"
    COUNTERS = ("seen_written", "seen_write_retries", "erasures", "suppressed")

    def setup(self, cfg, ctx):
        from pyflink.datastream.state import MapStateDescriptor
        from udfs.core.caps import FrequencyCaps
        from udfs.flink.ttl import ttl_config
        self.caps = FrequencyCaps.from_config(cfg.scoring)
        desc = MapStateDescriptor("seen", Types.STRING(), Types.PICKLED_BYTE_ARRAY())
        rules = cfg.scoring.campaign_caps + cfg.scoring.creative_caps
        self.capped = bool(rules)
        # A user's counts are useless once the longest window has passed (TTL per map entry);
        # a tombstone lives as long, or as long as a profile when nothing is capped.
        longest = max([r.window_s for r in rules], default=cfg.profile.windows.state_ttl_s)
        if rules:
            desc.enable_time_to_live(ttl_config(longest))
        self.state = ctx.get_map_state(desc)
        self.ttl = ttl_config(longest)

    def make_writer(self, cfg):
        """The online writer (a seam: the flink-tier test hands in one that keeps the rows)."""
        from udfs.io.seen_store import SeenWriter
        return SeenWriter(cfg)

    def open(self, ctx):
        from udfs.flink.feedback_erasure import SeenEraser
        super().open(ctx)
        self.eraser = SeenEraser(ctx, self.ttl, self.writer, self.job)

    def fold(self, lines, key, dead):
        from udfs.core import pricing, seen
        from udfs.flink.feedback_erasure import ERASURE
        changed: dict[str, tuple[dict, int]] = {}
        erased: list = []

        def decode(line):
            return line if line.startswith(ERASURE) else pricing.Priced.decode(line)

        def count(p):
            if isinstance(p, str):   # an erasure request: nothing of the user's before it is written
                erased.append(self.eraser.erase(p, changed, self.state))
                self.counters["erasures"].inc()
                return
            if not p.personalised or p.user_id is None:   # no consent (or anonymous): no caps state
                return
            if self.eraser.suppressed(p.user_id, p.ts):   # from before the user's erasure: not again
                self.counters["suppressed"].inc()
                return
            st, ts = changed.get(p.user_id) or (self.state.get(p.user_id) or {}, p.ts)
            seen.fold(st, self.caps, p.user_id, p)
            changed[p.user_id] = (st, max(ts, p.ts))
        self._each(lines, dead, decode, count)
        for user_id, (st, _) in changed.items():
            self.state.put(user_id, st)
        # Outside the per-line guard: a store failure fails the task, it never costs a request.
        audits = self.eraser.finish(erased, lambda w: self._write("seen", w))
        if self.capped and changed:
            rows = [(u, seen.encode(st), ts) for u, (st, ts) in changed.items()]
            self._write("seen", lambda: self.writer.write(rows))
            self.counters["seen_written"].inc(len(rows))
        return audits


class StatsFunction(_Slices):
    """Keyed by campaign id; a slice's lines are encoded ``Attributed`` events."""
    STAGE = "feedback.stats.v1"
    COUNTERS = ("stats_events", "stats_written", "stats_stale", "stats_write_retries")

    def setup(self, cfg, ctx):
        from pyflink.datastream.state import ValueStateDescriptor
        from udfs.core.ad_stats import StatsParams
        self.params = StatsParams.from_config(cfg)
        self.state = ctx.get_state(ValueStateDescriptor("stats", Types.PICKLED_BYTE_ARRAY()))

    def gauges(self, group):
        # The newest event time in the statistics last written → the wall clock after the
        # write: how far behind the feedback events the scorer's statistics are.
        self.freshness = LastValue().register(group, "stats_freshness_ms")

    def make_writer(self, cfg):
        """The online writer (a seam: the flink-tier test hands in one that keeps the rows)."""
        from udfs.io.ad_stats_store import AdStatsWriter
        return AdStatsWriter(cfg)

    def fold(self, lines, key, dead):
        from udfs.core import ad_stats
        from udfs.core.attributed import Attributed
        st = self.state.value() or ad_stats.CampaignStats()
        stale = st.stale
        events = self._each(lines, dead, Attributed.decode, lambda ev: ad_stats.apply(st, ev, self.params))
        if not events:
            return []
        self.counters["stats_events"].inc(events)
        self.counters["stats_stale"].inc(st.stale - stale)
        camp, crs = ad_stats.snapshot(st, self.params)
        self._write("stats", lambda: self.writer.write({st.campaign_id: camp}, crs, st.latest))
        self.counters["stats_written"].inc()
        self.freshness.value = age_ms(st.latest)
        self.state.update(st)
        return []
