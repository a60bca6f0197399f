"""A do-nothing scoring step: answers each request with an empty ``RankedAds``.

The benchmark runs it in the scoring job's own topology (same source, keying, Python
operator kind and sinks) to show what the framework alone costs: the gap between
this and the real job is the scoring logic; the gap between this and Kafka alone is
PyFlink.
"""
from __future__ import annotations

import json
import time

from pyflink.common import Row
from pyflink.datastream import KeyedProcessFunction


class EchoFunction(KeyedProcessFunction):
    def process_element(self, value, ctx):
        rid = json.loads(value)["request_id"]
        body = json.dumps({"schema": "ranked_ads", "v": 1, "request_id": rid,
                           "ts": time.time_ns() // 1_000_000, "ads": [], "model_version": "echo",
                           "variant": "echo", "fallback": False, "fallback_reason": None,
                           "timings_ms": {}}, separators=(",", ":"))
        yield Row("R", rid, body)
