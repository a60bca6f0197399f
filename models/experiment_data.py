"""An experiment's rows, by user: what the report counts, as of any time in the window.

From the training log (one row per attributed impression, highest revision already kept by
``udfs.io.training_log_store.read``) and optionally the served log's requests, keep the rows
labelled with one of the experiment's variants (``<experiment>:<variant>``) whose ``ts`` is in
its ``[start, stop)`` window (cut earlier by ``--as-of``). The unit is the one the scoring job
bucketed by: the pseudonymous user id, or ``r:<request id>`` for an anonymous request
(``udfs.core.experiments``). :meth:`Rows.totals` sums them per unit up to a time, so the
report can show each look at the experiment as it would have looked then.

Revenue is what the advertisers were charged: an impression's ``charge`` (what one charged
event of its bid type costs) times its charged events — the impression for CPM, the click
for CPC, each conversion for CPA/oCPA (``udfs.messages.served.CHARGED_ON``). A row written
before the training log carried the charge has none; it counts no revenue and is counted in
``missing_charge``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from udfs.config.experiments import Experiment
from udfs.messages.served import CHARGED_ON


@dataclass(frozen=True)
class ServedRequest:
    """One served-log record reduced to what the report counts."""
    user_id: str | None
    request_id: str
    ts: int
    variant: str


@dataclass
class Rows:
    """The experiment's events, each tagged with its unit's index; units know their variant."""
    variants: tuple[str, ...]        # the experiment's variant names, configured order (first = control)
    unit_variant: np.ndarray         # per unit: index into variants
    imp_unit: np.ndarray             # per impression: unit index, ts, labels, revenue
    imp_ts: np.ndarray
    clicked: np.ndarray
    conversions: np.ndarray
    revenue: np.ndarray
    req_unit: np.ndarray             # per request: unit index and ts
    req_ts: np.ndarray
    requests_from: str               # "served log" or "impressions"
    notes: dict = field(default_factory=dict)

    @property
    def first_ts(self) -> int | None:
        ts = np.concatenate([self.imp_ts, self.req_ts])
        return int(ts.min()) if len(ts) else None

    @property
    def last_ts(self) -> int | None:
        ts = np.concatenate([self.imp_ts, self.req_ts])
        return int(ts.max()) if len(ts) else None

    def totals(self, until_ms: int | None = None) -> dict[str, dict[str, np.ndarray]]:
        """Per variant, per unit seen before ``until_ms`` (None: all): requests, impressions,
        clicks, conversions, revenue."""
        u = len(self.unit_variant)
        mi = slice(None) if until_ms is None else self.imp_ts < until_ms
        mr = slice(None) if until_ms is None else self.req_ts < until_ms

        def count(units, weights=None):
            return np.bincount(units, weights=weights, minlength=u).astype(float)

        per = {"requests": count(self.req_unit[mr]), "impressions": count(self.imp_unit[mi]),
               "clicks": count(self.imp_unit[mi], self.clicked[mi]),
               "conversions": count(self.imp_unit[mi], self.conversions[mi]),
               "revenue": count(self.imp_unit[mi], self.revenue[mi])}
        seen = (per["requests"] > 0) | (per["impressions"] > 0)
        out = {}
        for i, name in enumerate(self.variants):
            keep = seen & (self.unit_variant == i)
            out[name] = {k: v[keep] for k, v in per.items()}
        return out


def _revenue(bid_type: np.ndarray, charge: np.ndarray, clicked: np.ndarray, conversions: np.ndarray) -> np.ndarray:
    events = {"impression": np.ones(len(bid_type)), "click": clicked, "conversion": conversions}
    out = np.zeros(len(bid_type))
    for bt, on in CHARGED_ON.items():
        m = bid_type == bt
        out[m] = charge[m] * events[on][m]
    return out


def _units(user_id: list, request_id: list) -> list[str]:
    return [u if u else "r:" + r for u, r in zip(user_id, request_id)]


def collect(table: pa.Table, exp: Experiment, end_ms: int,
            served: list[ServedRequest] | None = None) -> Rows:
    """The experiment's rows from a training-log table (and served requests, if given) with
    ``ts`` in ``[exp.start, end_ms)``."""
    labels = {exp.label(v.name): i for i, v in enumerate(exp.variants)}
    cols = table.select(["user_id", "request_id", "ts", "variant", "bid_type", "clicked",
                         "conversions", "charge"]).to_pydict() if table.num_rows else {}
    ts = np.asarray(cols.get("ts", []), np.int64)
    vidx = np.asarray([labels.get(v, -1) for v in cols.get("variant", [])], np.int64)
    keep = (vidx >= 0) & (ts >= exp.start_ms) & (ts < end_ms)
    idx = np.flatnonzero(keep)
    pick = {k: [v[i] for i in idx] for k, v in cols.items()}
    keys: dict[tuple[str, int], int] = {}

    def unit_of(unit: str, variant: int) -> int:
        return keys.setdefault((unit, variant), len(keys))

    imp_units = _units(pick.get("user_id", []), pick.get("request_id", []))
    imp_unit = np.asarray([unit_of(u, v) for u, v in zip(imp_units, vidx[idx])], np.int64)
    charge_raw = pick.get("charge", [])
    charge = np.asarray([0.0 if c is None else c for c in charge_raw], float)
    clicked = np.asarray(pick.get("clicked", []), float)
    conversions = np.asarray(pick.get("conversions", []), float)
    revenue = _revenue(np.asarray(pick.get("bid_type", []), object), charge, clicked, conversions)
    if served is None:                       # a request = a distinct request id with an impression
        first: dict[tuple[int, str], int] = {}
        for u, r, t in zip(imp_unit.tolist(), pick.get("request_id", []), ts[idx].tolist()):
            first[(u, r)] = min(t, first.get((u, r), t))
        req_unit = [u for u, _ in first]
        req_ts = list(first.values())
        source = "impressions"
    else:
        inside = [s for s in served if s.variant in labels and exp.start_ms <= s.ts < end_ms]
        seen: dict[str, tuple[int, int]] = {}
        for s in inside:                     # a request id once (a re-delivered record is the same answer)
            unit = s.user_id if s.user_id else "r:" + s.request_id
            seen.setdefault(s.request_id, (unit_of(unit, labels[s.variant]), s.ts))
        req_unit = [u for u, _ in seen.values()]
        req_ts = [t for _, t in seen.values()]
        source = "served log"
    unit_variant = np.zeros(len(keys), np.int64)
    names: dict[str, set[int]] = {}
    for (unit, v), i in keys.items():
        unit_variant[i] = v
        names.setdefault(unit, set()).add(v)
    notes = {"missing_charge": int(sum(c is None for c in charge_raw)),
             "units_in_several_variants": sum(len(v) > 1 for v in names.values()),
             "rows_read": int(len(ts)), "rows_in_experiment": int(len(idx))}
    return Rows(tuple(v.name for v in exp.variants), unit_variant, imp_unit, ts[idx], clicked, conversions,
                revenue, np.asarray(req_unit, np.int64), np.asarray(req_ts, np.int64), source, notes)
