"""What the profile-job tests of every tier share: a per-test config with its own topics, a
click event, publishing, dead letters, the pure fold a profile must equal, and waiting until
the profiles in Redis are it."""
from __future__ import annotations

import time
import uuid

from udfs import config
from udfs.core import profile as P
from udfs.io import feast_store
from udfs.messages import ClickEvent, Consent, DeadLetter

T0 = 1_764_547_200_000


def job_config(stack, tmp_path, **extra):
    tag = uuid.uuid4().hex[:8]
    sets = [f"kafka.topics.clicks.name=clicks-{tag}", f"kafka.topics.dead_letter.name=dlq-{tag}",
            f"flink.checkpoint_dir={tmp_path}/ckpt", "flink.checkpoint_interval_ms=1000",
            *[f"{k}={v}" for k, v in extra.items()]]
    cfg = config.load("test", overrides=sets)
    from scripts.stack.control import create_topics
    create_topics(cfg)
    feast_store.apply(cfg)
    return cfg, sets, tag


def publish(cfg, values):
    from kafka import KafkaProducer
    p = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap, linger_ms=0)
    for key, v in values:
        p.send(cfg.kafka.topics.clicks.name, key=key.encode() if key else None,
               value=v if isinstance(v, bytes) else v.encode())
    p.flush()
    p.close()


def dead_letters(cfg, expect: int, timeout_s: float = 60) -> list[DeadLetter]:
    from kafka import KafkaConsumer
    c = KafkaConsumer(cfg.kafka.topics.dead_letter.name, bootstrap_servers=cfg.kafka.bootstrap,
                      auto_offset_reset="earliest", consumer_timeout_ms=1000)
    out, end = [], time.monotonic() + timeout_s
    while time.monotonic() < end and len(out) < expect:
        out += [DeadLetter.decode(m.value) for m in c]
    c.close()
    return out


def wait_for(reader, users, done, timeout_s: float = 90):
    rows, end = None, time.monotonic() + timeout_s
    while time.monotonic() < end:
        rows = dict(zip(users, reader.read_all(users)))
        if done(rows):
            return rows
        time.sleep(0.5)
    return rows


def click(uid, i, sec, type_="view", **kw):
    fields = dict(event_id=f"{uid}-e{i}", user_id=uid, ts=T0 + int(sec * 1000), type=type_,
                  item_id=f"i{i}", category_id=kw.pop("cat", "c1"), brand_id="b1", price=10.0 + i,
                  consent=Consent(personalisation=True, measurement=True))
    fields.update(kw)
    return ClickEvent(**fields)


def expected(events, cfg):
    from udfs.io import keyword_map
    p = P.ProfileParams.from_config(cfg.profile.windows, keyword_map.load(cfg.profile.keyword_map))
    return P.snapshot(P.build([P.EventView(e.ts, e.type, e.category_id, e.brand_id, e.price, e.query)
                               for e in events], p), p)


def _same(got: dict, want: dict) -> bool:
    for k, w in want.items():
        g = got[k]
        if isinstance(w, float):
            if abs(g - w) > 1e-6:
                return False
        elif isinstance(w, list) and w and isinstance(w[0], float):
            if len(g) != len(w) or any(abs(x - y) > 1e-6 for x, y in zip(g, w)):
                return False
        elif g != w:
            return False
    return True


def landed(reader, users, want, timeout_s: float = 180):
    rows = wait_for(reader, users, lambda r: all(
        r[u]["last_event_ts"] == want[u]["last_event_ts"] and _same(r[u], want[u]) for u in users),
        timeout_s=timeout_s)
    bad = {u: {k: (rows[u][k], w) for k, w in want[u].items() if not _same({k: rows[u][k]}, {k: w})}
           for u in users if not _same(rows[u], want[u])}
    return bad
