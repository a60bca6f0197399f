"""What the fault drill (``scripts/fault_drill.py``) works with: job processes it can crash,
the dead-letter topic read in the background, producers that retry through an outage,
valid canary records, and the profile counts that show lost or doubled events.

Jobs run as ``adstream job …`` processes in their own session, so a ``kill -9`` of the
group is a real crash of the client and the JVM it started.
"""
from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from udfs import config
from udfs.config import Config
from udfs.core.features import EVENT_TYPES, count_feature


class JobProc:
    """One ``adstream job NAME`` process group, logging to its own file."""

    def __init__(self, name: str, env: str, sets: list[str], log: Path, *extra: str):
        cmd = [sys.executable, "-m", "scripts.cli", "--env", env,
               *[x for s in sets for x in ("--set", s)], "job", name, *extra]
        self.name, self.log = name, log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True, cwd=config.ROOT)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole group: the client and its JVM, as a crash would."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


class DeadLetters:
    """Every dead letter on the topic from now on, kept with its arrival time."""

    def __init__(self, cfg: Config):
        from kafka import KafkaConsumer
        self.consumer = KafkaConsumer(cfg.kafka.topics.dead_letter.name, bootstrap_servers=cfg.kafka.bootstrap,
                                      group_id=None, enable_auto_commit=False, auto_offset_reset="latest",
                                      metrics_enabled=False)
        self.consumer.poll(timeout_ms=1000)
        self.consumer.seek_to_end()
        self.items: list[dict] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                polled = self.consumer.poll(timeout_ms=200)
            except Exception:  # noqa: BLE001 - the broker may be down in a scenario; poll again
                time.sleep(0.5)
                continue
            for recs in polled.values():
                for r in recs:
                    try:
                        self.items.append(json.loads(r.value))
                    except (ValueError, TypeError):
                        self.items.append({"kind": "unreadable", "field": None, "reason": repr(r.value[:80])})

    def mark(self) -> int:
        return len(self.items)

    def since(self, mark: int) -> dict[str, int]:
        """Dead letters after ``mark`` by ``kind:field`` (the field when one was named)."""
        return dict(collections.Counter(f"{d.get('kind')}:{d.get('field') or '-'}" for d in self.items[mark:]))

    def close(self) -> None:
        self._stop.set()
        self._t.join()
        self.consumer.close()


class Sender:
    """A producer that keeps trying through a broker outage (up to ``give_up_s``)."""

    def __init__(self, cfg: Config, give_up_s: float = 120.0):
        from kafka import KafkaProducer
        self.producer = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap, linger_ms=0, acks="all",
                                      retries=1_000_000, max_block_ms=int(give_up_s * 1000),
                                      request_timeout_ms=5000, delivery_timeout_ms=int(give_up_s * 1000),
                                      max_request_size=2 * 1024 * 1024, metrics_enabled=False)

    def send(self, topic: str, value: bytes | str | None, key: str | None = None) -> None:
        if isinstance(value, str):
            value = value.encode()
        self.producer.send(topic, value=value, key=key.encode() if key else None)

    def flush(self) -> None:
        self.producer.flush()

    def close(self) -> None:
        self.producer.close()


ITEM_TYPES = tuple(t for t in EVENT_TYPES if t != "search")   # search needs a query instead


def click(uid: str, i: int, ts_ms: int, tag: str) -> str:
    """A valid clickstream event with a unique id (what a canary is)."""
    return json.dumps({"schema": "clickstream", "v": 2, "event_id": f"{tag}-{uid}-{i}", "user_id": uid,
                       "ts": ts_ms, "type": ITEM_TYPES[i % len(ITEM_TYPES)], "item_id": f"i{i % 50}",
                       "category_id": f"c{i % 5}", "brand_id": "b1", "price": 10.0 + i % 7,
                       "device": "mobile", "consent": {"personalisation": True, "measurement": True}},
                      separators=(",", ":"))


def now_ms() -> int:
    return int(time.time() * 1000)


class Counts:
    """Events a user's profile holds (all types, the longest count window), read through Feast."""

    def __init__(self, cfg: Config):
        from udfs.io import feast_store
        self.reader = feast_store.ProfileReader(cfg)
        w = max(cfg.profile.windows.count_windows_s)
        self.fields = [count_feature(t, w) for t in EVENT_TYPES]

    def of(self, users: list[str]) -> dict[str, int]:
        try:
            rows = self.reader.read_all(users)
        except Exception:  # noqa: BLE001 - Redis may be down in a scenario: "nothing seen yet"
            return {u: 0 for u in users}
        return {u: int(sum((r.get(f) or 0) for f in self.fields)) for u, r in zip(users, rows)}

    def wait(self, want: dict[str, int], timeout_s: float) -> tuple[dict[str, int], float | None]:
        """Poll until every user holds exactly ``want``; (last counts, seconds taken or None)."""
        t0 = time.monotonic()
        got: dict[str, int] = {}
        while time.monotonic() - t0 < timeout_s:
            got = self.of(list(want))
            if got == want:
                return got, time.monotonic() - t0
            time.sleep(0.3)
        return got, None


def lost_and_doubled(want: dict[str, int], got: dict[str, int]) -> tuple[int, int]:
    lost = sum(max(w - got.get(u, 0), 0) for u, w in want.items())
    doubled = sum(max(got.get(u, 0) - w, 0) for u, w in want.items())
    return lost, doubled
