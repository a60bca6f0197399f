"""``adstream site``: the ad server's side, simulated, on Kafka.

Reads ``ad-requests.v1`` and ``ranked-ads.v1``, pairs each answer with its request by
request id (:class:`scripts.synth.site.Join`), lets :class:`scripts.synth.site.Site` decide
what was shown, clicked and bought, and publishes the impressions, clicks and conversions
to their topics, keyed by request id, each when it is due (its ``ts``; a late one or a copy
later). Consuming both topics, rather than sending the requests itself, lets the site sit
beside whatever asks for ads (``scripts/demo_scoring.py``, the benchmarks, a replay) and
costs one join; the scoring job's answers alone would not say who the user was or where.
"""
from __future__ import annotations

import argparse
import dataclasses
import heapq
import itertools
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from scripts.cli.replay import make_producer
from scripts.synth import oracle
from scripts.synth.site import Join, Outgoing, Site, SiteWorld
from udfs.config import Config
from udfs.errors import AdstreamError, MessageError
from udfs.messages import AdRequest, RankedAds, topics


@dataclass
class RunResult:
    """What one run did: the site's tally, the join's losses, what was sent or left."""
    seen_requests: int = 0
    seen_answers: int = 0
    invalid: int = 0
    sent: dict[str, int] = field(default_factory=dict)   # topic name -> records
    undelivered: int = 0                                  # due after the drain ended
    elapsed_s: float = 0.0                                # reading, serving and the drain
    site: Site | None = None
    join: Join | None = None

    def line(self) -> str:
        t, j = self.site.tally, self.join
        return (f"requests seen {self.seen_requests}  answers seen {self.seen_answers}  {t.line()}  "
                f"unmatched {j.unmatched}  unanswered {j.unanswered}  invalid {self.invalid}  "
                f"undelivered {self.undelivered}  ({self.elapsed_s:.1f} s)")


@dataclass(frozen=True)
class Stop:
    """When to stop reading: after ``max_answers`` served answers, ``duration_s`` seconds, or
    ``idle_s`` seconds without a record (None: no such limit); then ``drain_s`` seconds at most
    to send what is still due."""
    max_answers: int | None = None
    duration_s: float | None = None
    idle_s: float | None = None
    drain_s: float = 30.0


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class _Loop:
    """The consume → join → serve → publish-when-due loop of one run."""

    def __init__(self, cfg: Config, site: Site, start: str, producer=None):
        from kafka import KafkaConsumer
        from kafka.errors import NoBrokersAvailable
        self.cfg, self.site = cfg, site
        self.req_topic = topics.name_of(cfg, "ad_requests")
        self.ans_topic = topics.name_of(cfg, "ranked_ads")
        try:
            self.consumer = KafkaConsumer(self.req_topic, self.ans_topic, bootstrap_servers=cfg.kafka.bootstrap,
                                          group_id=site.p.group_id, auto_offset_reset=start,
                                          client_id="adstream-site")
            self.producer = producer or make_producer(cfg)
        except NoBrokersAvailable:
            raise AdstreamError(f"no Kafka broker answers at {cfg.kafka.bootstrap} "
                                f"(start one: adstream stack up)") from None
        self.join = Join(int(site.p.join_wait_s * 1000), site.p.max_waiting)
        self.due: list[tuple[int, int, Outgoing]] = []
        self.seq = itertools.count()
        self.result = RunResult(site=site, join=self.join)

    def read(self) -> int:
        """One poll: every record decoded, joined, served; returns how many were read."""
        n = 0
        for recs in self.consumer.poll(timeout_ms=100, max_records=500).values():
            for rec in recs:
                n += 1
                self._record(rec.topic, rec.value)
        self.join.expire(_now_ms())
        return n

    def _record(self, topic: str, value: bytes | None) -> None:
        r = self.result
        try:
            if topic == self.req_topic:
                r.seen_requests += 1
                pair = self.join.request(AdRequest.decode(value or b""), _now_ms())
            else:
                r.seen_answers += 1
                pair = self.join.answer(RankedAds.decode(value or b""), _now_ms())
        except MessageError:
            r.invalid += 1   # not the site's to repair: the scoring job dead-letters bad requests
            return
        if pair is None:
            return
        try:
            out = self.site.serve(*pair)
        except MessageError:   # an event the formats refuse (e.g. a ts pushed past their bound): skip the answer
            r.invalid += 1
            return
        for o in out:
            heapq.heappush(self.due, (o.send_at_ms, next(self.seq), o))

    def send_due(self, now_ms: int) -> None:
        while self.due and self.due[0][0] <= now_ms:
            o = heapq.heappop(self.due)[2]
            name = topics.name_of(self.cfg, o.topic)
            self.producer.send(name, value=o.message.encode(), key=o.key)
            self.result.sent[name] = self.result.sent.get(name, 0) + 1

    def close(self) -> None:
        self.producer.flush()
        self.producer.close()
        self.consumer.close()


def run_site(cfg: Config, world_dir: str | Path, *, start: str = "latest", stop: Stop = Stop(),
             progress_s: float = 0.0, producer=None,
             oracle_params: oracle.OracleParams = oracle.DEFAULT) -> RunResult:
    """Run the simulated site until ``stop`` says so; returns what it did. ``oracle_params``:
    the world's click and conversion model unless a caller (a test) wants another."""
    site = Site(SiteWorld.load(world_dir), cfg.site, oracle_params)
    loop = _Loop(cfg, site, start, producer)
    began = last_read = last_note = time.monotonic()
    try:
        while True:
            if loop.read():
                last_read = time.monotonic()
            loop.send_due(_now_ms())
            now = time.monotonic()
            if progress_s and now - last_note >= progress_s:
                print(loop.result.line(), file=sys.stderr, flush=True)
                last_note = now
            if ((stop.max_answers is not None and site.tally.answers >= stop.max_answers)
                    or (stop.duration_s is not None and now - began >= stop.duration_s)
                    or (stop.idle_s is not None and now - last_read >= stop.idle_s)):
                break
        _drain(loop, stop.drain_s)
    finally:
        loop.close()
        loop.result.elapsed_s = time.monotonic() - began
    return loop.result


def _drain(loop: _Loop, drain_s: float) -> None:
    """Send what falls due within ``drain_s`` seconds; count the rest as undelivered (sending
    it early would put event times in the future)."""
    end = time.monotonic() + drain_s
    while loop.due and time.monotonic() < end:
        wait_ms = loop.due[0][0] - _now_ms()
        if wait_ms > 0:
            time.sleep(min(wait_ms / 1000.0, 0.2, max(end - time.monotonic(), 0.0)))
        loop.send_due(_now_ms())
    loop.result.undelivered = len(loop.due)


# ------------------------------------------------------------------ CLI

def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "site", help="simulate the ad server's side: impressions, clicks, conversions from answers",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Read ad requests (ad-requests.v1) and answers (ranked-ads.v1) from Kafka, pair them\n"
                    "by request id, show the first num_ads ads of each answer at positions 1..n, draw\n"
                    "clicks and conversions from the world's hidden oracle, and publish Impression,\n"
                    "AdClick and Conversion records (keyed by request id) when they are due, with the\n"
                    "config's shares of duplicates, late events and orphan clicks (a click whose\n"
                    "impression is never sent). Deterministic by site.seed: the same answers give the\n"
                    "same events. Knobs: the 'site' config section (--set site.KEY=VALUE); see\n"
                    "docs/generator.md, 'The site simulator'.",
        epilog="examples:\n"
               "  adstream site --idle 30                    # beside scripts/demo_scoring.py\n"
               "  adstream site --from earliest --max-answers 500 --seed 3\n"
               "  adstream --set site.time_compression=3600 --set site.orphan_share=0.1 site --duration 120\n"
               "prints a progress line on stderr every --progress seconds and a summary at the end")
    p.add_argument("--world", metavar="DIR", default=None,
                   help="world directory (default: <paths.data_dir>/world), for users, creatives, history")
    p.add_argument("--from", dest="start", choices=("latest", "earliest"), default="latest",
                   help="where to start on the topics when the consumer group has no offsets (default latest)")
    p.add_argument("--seed", type=int, default=None, help="site.seed for this run")
    p.add_argument("--max-answers", type=int, default=None, metavar="N", help="stop after N answers served")
    p.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S seconds")
    p.add_argument("--idle", type=float, default=None, metavar="S",
                   help="stop after S seconds without a record")
    p.add_argument("--drain", type=float, default=30.0, metavar="S",
                   help="after stopping, send for S more seconds what falls due (default 30); the rest "
                        "is counted as undelivered")
    p.add_argument("--progress", type=float, default=5.0, metavar="S", help="progress line every S s (0: none)")
    p.set_defaults(func=run)


def run(cfg: Config, args) -> int:
    if args.max_answers is None and args.duration is None and args.idle is None:
        raise AdstreamError("adstream site: give --max-answers, --duration or --idle (when to stop)")
    if args.seed is not None:
        cfg = dataclasses.replace(cfg, site=dataclasses.replace(cfg.site, seed=args.seed))
    world = Path(args.world) if args.world else cfg.path("data_dir") / "world"
    result = run_site(cfg, world, start=args.start,
                      stop=Stop(args.max_answers, args.duration, args.idle, args.drain),
                      progress_s=args.progress)
    print(result.line())
    for name in sorted(result.sent):
        print(f"  {name:<20} {result.sent[name]:>8,} records")
    return 0
