"""A do-nothing scoring step: answers each request with an empty ``RankedAds``.

The benchmark runs it in the scoring job's own topology (same source, keying, Python
operator kind and sinks) to show what the framework alone costs: the gap between
this and the real job is the scoring logic; the gap between this and Kafka alone is
PyFlink. ``LeanEchoFunction`` drops the keying too: PyFlink's own minimum.
"""
from __future__ import annotations

import json
import time

from pyflink.common import Row
from pyflink.datastream import KeyedProcessFunction, ProcessFunction


def _echo(value: str) -> Row:
    rid = json.loads(value)["request_id"]
    body = json.dumps({"schema": "ranked_ads", "v": 1, "request_id": rid,
                       "ts": time.time_ns() // 1_000_000, "ads": [], "model_version": "echo",
                       "variant": "echo", "fallback": False, "fallback_reason": None,
                       "timings_ms": {}}, separators=(",", ":"))
    return Row("R", rid, body)


class EchoFunction(KeyedProcessFunction):
    """After the job's keying (key computed in SQL, keyed in the JVM), like the scoring step."""

    def process_element(self, value, ctx):
        yield _echo(value)


class LeanEchoFunction(ProcessFunction):
    """No keying: the least Python a PyFlink request/response path can have (one operator).
    Its input is the source table's one-column rows."""

    def process_element(self, value, ctx):
        yield _echo(value[0])
