"""What ``adstream privacy erase`` and ``adstream privacy verify`` do (docs/privacy.md, "Erasure").

``erase``: publish the request to the erasure topic (the profile and feedback jobs carry it out in
their state and the online store, each writing an audit record to the audit topic), rewrite the
training log's and the Feast offline files that hold the user, write the command's own audit
record (file and topic) and, with ``wait``, wait for the jobs' records.

``verify``: look for the user in every store this process can read — the online store (the user's
hash and any key naming the id), the training log, the offline files — and, for the jobs' keyed
state, which no other process can read, the jobs' audit records of an erasure of the user.
"""
from __future__ import annotations

import json
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from udfs.config import Config
from udfs.core import erasure as E
from udfs.core.features import ENTITY_KEY
from udfs.errors import AdstreamError
from udfs.io import training_log_store as tls
from udfs.messages import ErasureAudit, ErasureRequest


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def user_id(cfg: Config, given: str, environ=None) -> str:
    """The id the stores hold for ``given``: its pseudonym when the config says USER is a raw id
    (``privacy.erasure.pseudonymise_user`` or ``privacy.pseudonymise_replay``), unless ``given``
    is already shaped as a pseudonym of the current key id."""
    from udfs.core.pseudonym import Pseudonymiser, key_id_of
    p = cfg.privacy
    if not (p.erasure.pseudonymise_user or p.pseudonymise_replay) or key_id_of(given) == p.pseudonym_key_id:
        return given
    return Pseudonymiser.from_environ(p, os.environ if environ is None else environ).id(given)


def audit_path(cfg: Config) -> Path:
    return cfg.path("work_dir") / cfg.privacy.erasure.audit_file


def append_audits(cfg: Config, audits: list[ErasureAudit]) -> None:
    """Add records to the audit file (one JSON line each; appended, never rewritten)."""
    path = audit_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        for a in audits:
            f.write(a.to_json() + "\n")


def read_audit_file(path: Path) -> list[ErasureAudit]:
    """Every record of the audit file (none when it does not exist); a line that is not a record
    stops with its line number: the file is the proof, a broken one must be looked at."""
    if not path.exists():
        return []
    out = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                out.append(ErasureAudit.decode(line))
            except Exception as e:   # noqa: BLE001 - MessageError, named with its place
                raise AdstreamError(f"{path}:{lineno}: not an erasure audit record ({e})") from None
    return out


def file_audits(cfg: Config, user: str) -> list[ErasureAudit]:
    return [a for a in read_audit_file(audit_path(cfg)) if a.user_id == user]


class ErasedUsers:
    """The users erased by this command (its audit file's records), as user id -> the latest
    request's time; re-read when the file changes. ``adstream training-log write`` drops their
    rows from before that time, so a row still on the topic when the store was rewritten is not
    written back afterwards."""

    def __init__(self, cfg: Config):
        self.path, self.seen_mtime, self.before = audit_path(cfg), None, {}

    def get(self) -> dict[str, int]:
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return self.before
        if mtime != self.seen_mtime:
            before: dict[str, int] = {}
            for a in read_audit_file(self.path):
                if a.by == E.COMMAND:
                    before[a.user_id] = max(before.get(a.user_id, 0), a.requested_ts)
            self.before, self.seen_mtime = before, mtime
        return self.before


def offline_files(cfg: Config) -> list[Path]:
    """The Feast offline store's single-file sources (``<data_dir>/offline/*.parquet``) that exist;
    the training log, a folder there, is its own store."""
    root = cfg.path("data_dir") / "offline"
    return sorted(p for p in root.glob("*.parquet") if p.is_file()) if root.is_dir() else []


def erase_files(cfg: Config, user: str) -> dict[str, int]:
    """The training log's and the offline files' rows of ``user`` removed (atomic rewrites)."""
    import pyarrow.fs as pafs
    rows, files = tls.erase_user(cfg.feedback.training_log_uri, user)
    offline = 0
    local = pafs.LocalFileSystem()
    for p in offline_files(cfg):
        offline += tls.rewrite_without(local, str(p), ENTITY_KEY, user)
    return {E.TRAINING_ROWS: rows, E.TRAINING_FILES: len(files), E.OFFLINE_ROWS: offline}


class AuditTail:
    """The audit topic from its end as of now (made before the request is published, so no job's
    record can come before it), or from its beginning (``verify``)."""

    def __init__(self, cfg: Config, *, from_start: bool = False):
        from kafka import KafkaConsumer, TopicPartition
        from kafka.errors import NoBrokersAvailable
        name = cfg.kafka.topics.erasure_audit.name
        try:
            self.consumer = KafkaConsumer(bootstrap_servers=cfg.kafka.bootstrap, enable_auto_commit=False,
                                          client_id="adstream-privacy", consumer_timeout_ms=500)
        except NoBrokersAvailable:
            raise AdstreamError(f"no Kafka broker answers at {cfg.kafka.bootstrap} "
                                "(start one: adstream stack up)") from None
        parts = self.consumer.partitions_for_topic(name)
        if not parts:
            raise AdstreamError(f"topic {name} does not exist: run `adstream stack up`")
        self.parts = [TopicPartition(name, p) for p in sorted(parts)]
        self.consumer.assign(self.parts)
        (self.consumer.seek_to_beginning if from_start else self.consumer.seek_to_end)(*self.parts)
        for tp in self.parts:
            self.consumer.position(tp)   # fix the start now, not at the first poll

    def poll(self, timeout_ms: int = 500) -> list[ErasureAudit]:
        out = []
        for recs in self.consumer.poll(timeout_ms=timeout_ms).values():
            for r in recs:
                try:
                    out.append(ErasureAudit.decode(r.value or b""))
                except Exception:   # noqa: BLE001 - a foreign record on the topic is not ours to judge
                    continue
        return out

    def read_to_end(self, timeout_s: float = 30.0) -> list[ErasureAudit]:
        """Every record up to the end offsets of now (within ``timeout_s``: a broker that stops
        answering halfway must not hang the check)."""
        ends = self.consumer.end_offsets(self.parts)
        out: list[ErasureAudit] = []
        deadline = time.monotonic() + timeout_s
        while any(self.consumer.position(tp) < ends[tp] for tp in self.parts):
            if time.monotonic() > deadline:
                raise AdstreamError(f"the audit topic was not read to its end within {timeout_s:.0f} s")
            out += self.poll()
        return out

    def close(self) -> None:
        self.consumer.close()


@dataclass
class EraseResult:
    request: ErasureRequest
    own: ErasureAudit
    jobs: list[ErasureAudit] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    waited: bool = False


def erase(cfg: Config, user: str, *, ticket: str | None, wait: bool, progress=None) -> EraseResult:
    """Request the erasure of ``user`` (an id as the stores hold it) and do the command's part."""
    from scripts.cli.replay.producer import make_producer
    t0 = time.monotonic()
    req = ErasureRequest(request_id=ticket or f"erase-{uuid.uuid4().hex[:12]}", user_id=user, ts=_now_ms(),
                         requested_by=f"adstream privacy erase ({os.environ.get('USER', 'unknown')})")
    tail = AuditTail(cfg) if wait else None
    try:
        producer = make_producer(cfg)
        try:
            producer.send(cfg.kafka.topics.erasure.name, key=user.encode(), value=req.encode())
            producer.flush()
            own = E.audit(req, E.COMMAND, erase_files(cfg, user), _now_ms())
            append_audits(cfg, [own])
            producer.send(cfg.kafka.topics.erasure_audit.name, key=user.encode(), value=own.encode())
            producer.flush()
        finally:
            producer.close()
        res = EraseResult(req, own, missing=list(cfg.privacy.erasure.wait_for) if wait else [], waited=wait)
        if tail is not None:
            _wait(cfg, tail, res, t0, progress)
            append_audits(cfg, res.jobs)
    finally:
        if tail is not None:
            tail.close()
    res.elapsed_s = time.monotonic() - t0
    return res


def _wait(cfg: Config, tail: AuditTail, res: EraseResult, t0: float, progress) -> None:
    deadline, note = t0 + cfg.privacy.erasure.wait_s, 0.0
    while res.missing and time.monotonic() < deadline:
        got = [a for a in tail.poll() if a.ticket_id == res.request.request_id and a.by in res.missing]
        res.jobs += got
        res.missing = E.missing(res.jobs, res.request.request_id, cfg.privacy.erasure.wait_for)
        now = time.monotonic()
        if progress and (got or now - note >= 2.0):
            progress(f"waiting for {', '.join(res.missing) or 'nothing'} … {now - t0:.1f} s")
            note = now


def print_erase(res: EraseResult, out=sys.stdout) -> int:
    r = res.request
    print(f"erasure {r.request_id} of {r.user_id}: requested at {r.ts}", file=out)
    for a in (res.own, *res.jobs):
        print(f"  {a.by}: {json.dumps(dict(a.stores), sort_keys=True)} "
              f"(done {(a.completed_ts - a.requested_ts) / 1000:.1f} s after the request)", file=out)
    if res.missing:
        print(f"  not confirmed within the wait: {', '.join(res.missing)} (is the job running? "
              "it carries the request out when it reads it; check again with `adstream privacy verify`)",
              file=out)
        return 1
    if not res.waited:
        print("  published: the jobs carry it out when they read it (--wait waits for their audit "
              "records; `adstream privacy verify` checks)", file=out)
        return 0
    print(f"  complete in {res.elapsed_s:.1f} s", file=out)
    return 0


@dataclass
class Check:
    store: str
    held: int | None     # items of the user found; None: cannot be read from here
    how: str

    @property
    def ok(self) -> bool:
        return self.held == 0


def verify(cfg: Config, user: str) -> list[Check]:
    """Every store's check for ``user``; each says how it looked."""
    checks = _redis_checks(cfg, user)
    uri = cfg.feedback.training_log_uri
    checks.append(Check("training log", tls.count_user(uri, user), f"every parquet file under {uri}, "
                                                                   "column user_id"))
    import pyarrow.fs as pafs
    for p in offline_files(cfg):
        n = _file_count(pafs.LocalFileSystem(), p, user)
        checks.append(Check(f"offline store {p.name}", n, f"{p}, column {ENTITY_KEY}"))
    checks.append(Check("experiment assignments", 0, "none stored: a user's variant is a hash of the id at "
                                                     "request time (udfs/core/experiments.py); the variants "
                                                     "served are in the training log, checked above"))
    checks += _state_checks(cfg, user)
    return checks


def _file_count(fs, path: Path, user: str) -> int:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    col = pq.read_table(str(path), columns=[ENTITY_KEY], filesystem=fs).column(ENTITY_KEY)
    return pc.sum(pc.equal(col, user)).as_py() or 0


def _redis_checks(cfg: Config, user: str) -> list[Check]:
    import redis

    from udfs.io.feast_values import redis_key
    client = redis.Redis(host=cfg.redis.host, port=cfg.redis.port, db=cfg.redis.db, socket_timeout=5)
    try:
        held = client.hlen(redis_key(cfg.feast.project, ENTITY_KEY, user))
        pattern = "*" + "".join(f"\\{c}" if c in "*?[]\\^-" else c for c in user) + "*"
        named = sum(1 for _ in client.scan_iter(match=pattern, count=1000))
    except redis.RedisError as e:
        raise AdstreamError(f"Redis at {cfg.redis.address}: {e} (start it: adstream stack up)") from None
    finally:
        client.close()
    return [Check("online store: the user's hash", held, "HLEN of the Feast key of user_id (profile, caps "
                                                         "and any other view)"),
            Check("online store: keys naming the id", named, "SCAN of every key for the id's bytes")]


def _state_checks(cfg: Config, user: str) -> list[Check]:
    """The jobs' keyed state cannot be read from outside: the check is that each job wrote an audit
    record of an erasure of the user (it dropped the state and keeps a tombstone that stops a replay
    from rebuilding it); after that, nothing of the user can return from the state but a profile in
    Redis, which the online check above would find (the jobs rewrite the online store from state)."""
    audits = file_audits(cfg, user)
    try:
        tail = AuditTail(cfg, from_start=True)
        try:
            audits += [a for a in tail.read_to_end() if a.user_id == user]
        finally:
            tail.close()
        source = f"the audit file and topic {cfg.kafka.topics.erasure_audit.name}"
    except AdstreamError as e:
        source = f"the audit file only ({e})"
    out = []
    for job in cfg.privacy.erasure.wait_for:
        mine = sorted((a for a in audits if a.by == job), key=lambda a: a.completed_ts)
        how = (f"not readable from outside; indirect: {job}'s audit record of ticket {mine[-1].ticket_id} "
               f"({json.dumps(dict(mine[-1].stores), sort_keys=True)}) in {source}" if mine else
               f"not readable from outside, and no audit record of {job} for the user in {source}: "
               "run `adstream privacy erase USER --wait` with the job running")
        out.append(Check(f"{job} keyed state", 0 if mine else None, how))
    return out


def print_verify(user: str, checks: list[Check], out=sys.stdout) -> int:
    print(f"verify {user}:", file=out)
    for c in checks:
        verdict = "absent" if c.ok else ("NOT PROVEN" if c.held is None else f"FOUND {c.held}")
        print(f"  {verdict:<10} {c.store}: {c.how}", file=out)
    bad = [c for c in checks if not c.ok]
    print(f"  {'absent everywhere checked' if not bad else f'{len(bad)} store(s) not clear'}", file=out)
    return 0 if not bad else 1
