"""Flink adapter of the profile step: keyed state, clock, metrics and the Feast writer.

Holds no business rules: ``udfs.core.profile_batch.process`` does the work. One call per
(shard, time slice) row from the JVM: one MapState read and write per user in it,
one Feast write for all of them. The key is a virtual shard (``udfs.core.shards``): the
number of shards each shard's state was written with is kept beside it and checked on the
shard's first element after every (re)start. Writing inside the element's processing means a
checkpoint barrier never passes an update that has not reached the online store,
and a replay after a restart rewrites the same versions, which Feast skips.

A bad record never fails the task (docs/reliability.md): ``profile_batch.process``
turns every per-record exception into a dead letter, and this adapter does the same
for whatever it does itself with the slice's records; dead letters are cut to
``dead_letter.max_bytes``. What fails the task is the job's own infrastructure (Flink
state, the Feast write): that is for the bounded restart strategy, not a dead letter.
"""
from __future__ import annotations

import dataclasses
import json
import logging

from pyflink.common import Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor

from udfs import config
from udfs.flink.gauges import LastValue, age_ms
from udfs.flink.ttl import ttl_config
from udfs.io import job_logs, keyword_map
from udfs.core import profile_batch, shards
from udfs.core import profile as P
from udfs.messages.bounds import TimeBounds
from udfs.core.profile import ProfileParams
from udfs.core.record_guard import ERROR, describe, error_letter

DEAD = "D"      # output record prefix: a dead letter (JSON)
PROFILE = "P"   # output record prefix: a profile update (JSON), when emit_profiles
AUDIT = "A"     # output record prefix: an erasure's audit record (ErasureAudit JSON)
STAGE = "profile.apply.v1"
# Dead letters by kind (invalid, future, late, duplicate, error), and what was applied/written.
COUNTERS = ("applied", "invalid", "future", "late", "duplicate", "no_consent", "erased", "written", ERROR,
            "erasure_requests", "suppressed", "audits",
            "dead_letters",
            "repairs", "repaired", "repair_failures", "write_retries")
log = logging.getLogger("adstream.profile")


class _CachedMapState:
    """Read-through, write-through cache in front of the keyed MapState.

    A MapState read from Python costs ~0.3 ms (a JVM round trip and an unpickle) and
    was most of the profile step's time; a write is cheap. Every change is still put
    to Flink state, which is what checkpoints hold; the cache only saves the reads.
    It is rebuilt empty whenever the function is (re)opened, i.e. after any restore,
    and it applies the state TTL itself (from the last write, like Flink's TTL).
    Writes are collected and handed to Flink in one ``put_all`` per slice (``flush``):
    one JVM call instead of one per user, which was a fifth of the step.
    """

    def __init__(self, state, ttl_ms: int, capacity: int):
        import collections
        self.state, self.ttl_ms, self.capacity = state, ttl_ms, capacity
        self.cache: "collections.OrderedDict" = collections.OrderedDict()
        self.dirty: dict = {}
        self.removed: set = set()
        self.shard = None
        self.now_ms = 0

    def get(self, user_id):
        key = (self.shard, user_id)
        hit = self.cache.get(key)
        if hit is not None and self.now_ms - hit.written_ms <= self.ttl_ms:
            self.cache.move_to_end(key)
            return hit
        raw = self.state.get(user_id)
        if raw is None:
            return None
        st = profile_batch.from_state(raw)
        self._remember(key, st)
        return st

    def put(self, user_id, st):
        st.written_ms = self.now_ms
        self.dirty[user_id] = st
        self.removed.discard(user_id)
        self._remember((self.shard, user_id), st)

    def delete(self, user_id):
        """Drop the user's state (consent withdrawn): from the cache now, from Flink state on flush."""
        self.dirty.pop(user_id, None)
        self.cache.pop((self.shard, user_id), None)
        self.removed.add(user_id)

    def flush(self):
        """Hand this slice's writes and removals to Flink state (before the element ends, so
        before any barrier)."""
        for u in self.removed:
            self.state.remove(u)
        self.removed = set()
        if self.dirty:
            self.state.put_all({u: profile_batch.to_state(st) for u, st in self.dirty.items()})
            self.dirty = {}

    def items(self):
        """Every (user, state) of the current shard, from Flink state (what a checkpoint holds)."""
        return ((u, profile_batch.from_state(raw)) for u, raw in self.state.items())

    def _remember(self, key, st):
        self.cache[key] = st
        self.cache.move_to_end(key)
        if len(self.cache) > self.capacity:
            self.cache.popitem(last=False)


class ProfileFunction(KeyedProcessFunction):
    fold = staticmethod(P.apply)   # the per-event step (a seam: tests subclass it to fail)

    def __init__(self, cfg_dict: dict, source_topic: str, write_feast: bool, emit_profiles: bool,
                 job: str):
        self.cfg_dict = cfg_dict
        self.source_topic = source_topic
        self.write_feast = write_feast
        self.emit_profiles = emit_profiles
        self.job = job

    def open(self, ctx: RuntimeContext):
        cfg = config.from_dict(self.cfg_dict)
        self.cfg = cfg
        job_logs.job_logger(cfg, self.job, log.name)
        # the keyword map: read once per task at start, looked up per search token
        self.params = ProfileParams.from_config(cfg.profile.windows, keyword_map.load(cfg.profile.keyword_map))
        # segments: the nearest centroid of each snapshot (udfs/core/segments.py), when configured
        from udfs.io import segment_store
        self.params = dataclasses.replace(self.params, segments=segment_store.load(cfg.interests.segments.centroids_uri))
        self.bounds = TimeBounds.from_config(cfg.messages)
        desc = MapStateDescriptor("profiles", Types.STRING(), Types.PICKLED_BYTE_ARRAY())
        # Idle users cost nothing: their state expires after the TTL without an event.
        desc.enable_time_to_live(ttl_config(cfg.profile.windows.state_ttl_s))
        self.store = _CachedMapState(ctx.get_map_state(desc), cfg.profile.windows.state_ttl_s * 1000,
                                     cfg.profile.state_cache_users)
        # The number of shards each shard's state was written with (no TTL: it outlives idle users).
        self.layout = ctx.get_state(ValueStateDescriptor("shards", Types.INT()))
        self.checked: set = set()       # shards whose recorded number was read since this open
        group = ctx.get_metrics_group().add_group("adstream")
        self.counters = {k: group.counter(k) for k in COUNTERS}
        # The newest event time in the last slice written to the online store → the wall clock
        # just after the write: how far behind the clickstream the profiles readers see are.
        self.freshness = LastValue().register(group, "freshness_ms")
        self.writer = self.marker = None
        self.unrepaired: set = set()    # shards whose last repair failed: retried whatever the marker says
        if self.write_feast:
            from udfs.io.feast_store import OnlineMarker, make_writer
            self.writer = make_writer(cfg)
            self.marker = OnlineMarker(cfg, self.job, self.source_topic)

    def _process(self, row, now_ms: int) -> profile_batch.BatchResult:
        """One slice through the pure step; a failure outside its per-record guards (the slice
        itself unreadable) dead-letters the slice's records, each with the exception."""
        try:
            lines = json.loads(row[1])
            return profile_batch.process(lines, self.store, self.params,
                                         dedupe_horizon_ms=self.cfg.profile.dedupe_horizon_s * 1000,
                                         now_ms=now_ms, source_topic=self.source_topic, stage=STAGE,
                                         fold=self.fold, bounds=self.bounds, policy=self.cfg.privacy.consent)
        except Exception as e:
            log.warning("slice of shard %s failed, its records dead-lettered: %s", row[0], describe(e),
                        exc_info=True)
            try:
                items = json.loads(row[1])
                items = items if isinstance(items, list) else [row[1]]
            except Exception:
                items = [row[1]]
            res = profile_batch.BatchResult()
            for item in items:
                payload = item[1:] if isinstance(item, str) else item
                res.dead_letters.append(error_letter(payload, e, "profile slice", self.source_topic,
                                                     now_ms, STAGE))
            res.counts[ERROR] += len(items)
            return res

    def process_element(self, row, ctx: "KeyedProcessFunction.Context"):
        now_ms = ctx.timer_service().current_processing_time()
        if self.marker is not None:
            # One timer per shard and period (Flink keeps one per key and timestamp), in
            # checkpointed state: a restored job goes on checking without new events.
            every = self.cfg.profile.repair_check_ms
            ctx.timer_service().register_processing_time_timer((now_ms // every + 1) * every)
        self.store.shard, self.store.now_ms = ctx.get_current_key(), now_ms
        if self.store.shard not in self.checked:
            self._check_shards(self.store.shard)
        res = self._process(row, now_ms)
        self.store.flush()
        online = self._erase_online(res)
        if self.writer is not None and res.updates:
            self._write(res.updates)
            res.counts["written"] += len(res.updates)
            # once per slice; version_us is the profile's last event time (µs) plus a revision < 1000
            self.freshness.value = age_ms(max(u.version_us for u in res.updates) // 1000)
        for k, n in res.counts.items():
            if k in self.counters:
                self.counters[k].inc(n)
        self.counters["dead_letters"].inc(len(res.dead_letters))
        if res.counts[ERROR]:
            log.warning("%d record(s) dead-lettered on an exception, e.g. %s", res.counts[ERROR],
                        next(d.reason for d in res.dead_letters if d.kind == ERROR))
        cap = self.cfg.dead_letter.max_bytes
        for dl in res.dead_letters:
            yield DEAD + dl.to_bounded_json(cap)
        yield from self._audits(res, online)
        if self.emit_profiles:
            for u in res.updates:
                yield PROFILE + json.dumps({"user_id": u.user_id, "version_us": u.version_us,
                                            "profile": u.snapshot}, separators=(",", ":"))

    def _check_shards(self, shard) -> None:
        """Once per shard and open: refuse state written under another ``profile.shards``
        (``ShardsChanged`` fails the task with what to do), record the number where none is."""
        n = self.cfg.profile.shards
        found = shards.check_recorded(self.layout.value(), n,
                                      has_state=not self.store.state.is_empty())
        if found == "legacy":
            log.warning("shard %s holds state written before profile.shards was recorded: if it came "
                        "from a job keyed another way, users of other shards lost theirs", shard)
        if found != "ok":
            self.layout.update(n)
        self.checked.add(shard)

    def _erase_online(self, res) -> dict[str, int]:
        """Delete this slice's erased users from the online store, before its writes (a user who
        consents again later in the slice starts anew): a request's user loses the whole hash,
        a withdrawing user the profile and caps fields. Returns the fields removed per request's user."""
        if self.writer is None or not res.erasures:
            return {}
        requested = list(dict.fromkeys(r.request.user_id for r in res.requests))
        removed = self._retrying(lambda: self.writer.erase_keys(requested)) if requested else {}
        withdrawn = [u for u in res.erasures if u not in removed]
        if withdrawn:
            self._retrying(lambda: self.writer.delete(withdrawn))
        return removed or {}

    def _audits(self, res, online: dict[str, int]):
        """One audit record per erasure request of the slice, once its stores are done."""
        import time
        from udfs.core import erasure as E
        now = time.time_ns() // 1_000_000
        for r in res.requests:
            stores = {E.PROFILE_STATE: r.profiles, E.DEDUPE_IDS: r.dedupe_ids}
            if self.writer is not None:
                stores[E.ONLINE_FIELDS] = online.get(r.request.user_id, 0)
                online[r.request.user_id] = 0   # a second request in the slice found nothing more
            self.counters["audits"].inc()
            log.info("erasure %s done: %s", r.request.request_id, stores)
            yield AUDIT + E.audit(r.request, self.job, stores, now).to_json()

    def _write(self, updates) -> int:
        from udfs.io.feast_store import version_timestamp
        size, n = self.cfg.profile.batch_size, 0
        for i in range(0, len(updates), size):
            rows = [(u.user_id, u.snapshot, version_timestamp(u.version_us)) for u in updates[i:i + size]]
            n += self._retrying(lambda: self.writer.write(rows)) or 0
        return n

    def _retrying(self, write):
        """The online write, retried for up to ``profile.write_retry_ms`` (``udfs.io.retry``);
        a write is idempotent (versions), so retrying it is safe."""
        from udfs.io.retry import retry_for

        def told(delay, e):
            self.counters["write_retries"].inc()
            log.warning("online write failed, retrying in %.2f s: %s", delay, describe(e))
        return retry_for(write, self.cfg.profile.write_retry_ms / 1000, told)

    def on_timer(self, timestamp: int, ctx: "KeyedProcessFunction.OnTimerContext"):
        """Online-store repair: when this shard's marker is gone (Redis restarted empty or
        was flushed), write every live profile of the shard again from Flink state.

        The marker is set *before* the writes: a store that loses its data while they run
        loses the marker with it and is repaired again on the next check. A failure (Redis
        still away) is logged and retried on the next check; it never fails the task,
        because the profiles are safe in Flink state meanwhile.
        """
        shard = ctx.get_current_key()
        every = self.cfg.profile.repair_check_ms
        ctx.timer_service().register_processing_time_timer(timestamp + every)
        try:
            if shard in self.unrepaired or not self.marker.present(shard):
                self.counters["repairs"].inc()
                self.marker.set(shard)
                self.unrepaired.add(shard)
                updates = list(profile_batch.repair_updates(self.store.items(), self.params))
                rewritten = self._write(updates)
                self.unrepaired.discard(shard)
                self.counters["repaired"].inc(rewritten)
                # A first check (new job, new store) finds the marker absent and nothing to write.
                (log.warning if rewritten else log.info)(
                    "online-store marker of shard %s was gone: %d of its %d live profiles written "
                    "again from Flink state", shard, rewritten, len(updates))
        except Exception as e:
            self.counters["repair_failures"].inc()
            log.warning("online-store check of shard %s failed, retried in %d ms: %s", shard, every,
                        describe(e))
        yield from ()
