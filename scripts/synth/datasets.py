"""Public datasets mapped onto adstream's wire messages (pure functions, no Kafka).

**Taobao UserBehavior** (Alibaba Tianchi; CSV without header
``user_id,item_id,category_id,behavior_type,timestamp``), one line → one
:class:`~udfs.messages.ClickEvent`:

============  ==============================================================
event_id      ``tb-<line number>`` (1-based), so a replay is idempotent
user_id       ``tb-u<user_id>``; ids are prefixed so they never collide with
item_id       ``tb-i<item_id>``  synthetic ones when both share a topic
category_id   ``tb-c<category_id>``
type          pv → view, cart → cart, fav → fav, buy → purchase
ts            timestamp (Unix seconds) × 1000
price         null, except 0.0 on purchases: the dataset has no prices and the
              schema requires one there, so 0.0 means "unknown"
brand_id      null (not in the dataset)
device, geo   ``app``, ``CN`` (the data comes from Taobao's mobile app in China)
============  ==============================================================

The official file is grouped by user, not sorted by time; :func:`read_taobao`
sorts by (timestamp, line) by default so event-time consumers see ordered data.

**Open Bandit Dataset** (ZOZOTOWN; ``<policy>/<campaign>/<campaign>.csv`` with
``item_context.csv`` beside it). Each row is one impression of one item shown by
the behaviour policy, so each row becomes its own request:

=============  =============================================================
request_id     ``obd-<policy>-<campaign>-r<row index>``
impression_id  ``obd-<policy>-<campaign>-i<row index>``
user_id        ``obd-`` + first 16 hex of SHA-1 over the four hashed user
               features (the dataset has no user id; equal features = one user)
ad_id          ``obd-<campaign>-item<item_id>`` (= creative_id)
campaign_id    ``obd-<campaign>``
ts             the row's timestamp in epoch milliseconds
position       1..3 as in the dataset (left, centre, right)
price          0.0 (no charge is known)
click          a row with click = 1 also yields an :class:`~udfs.messages.AdClick`
               ``obd-<policy>-<campaign>-k<row index>`` at the impression's ts
propensity     kept beside the messages (:class:`ObdRecord`), not on the wire
=============  =============================================================

``item_context.csv`` becomes a small catalogue (:func:`openbandit_catalog`):
one advertiser ``obd-zozotown``, one CPM campaign per file (placeholder bid
and budget) and one approved creative per item whose ``category_id`` /
``brand_id`` are the hashed ``item_feature_1`` / ``item_feature_2`` (proxies:
the dataset does not say what they are) and whose price is unknown.
"""
from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from udfs.core.catalog import entity_from_dict, entity_to_dict
from udfs.errors import MessageError
from udfs.messages import AdClick, ClickEvent, Impression

TAOBAO_TYPES = {"pv": "view", "cart": "cart", "fav": "fav", "buy": "purchase"}
TAOBAO_SCHEMA = "taobao"
OBD_SCHEMA = "open_bandit"
OBD_ADVERTISER = "obd-zozotown"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


# ------------------------------------------------------------------ Taobao

def taobao_event(line: str, lineno: int) -> ClickEvent:
    """Map one UserBehavior CSV line (``lineno`` 1-based) to a ClickEvent.

    Raises :class:`~udfs.errors.MessageError` (schema ``taobao``) naming the bad field.
    """
    fields = line.rstrip("\r\n").split(",")
    if len(fields) != 5:
        raise MessageError(TAOBAO_SCHEMA, "<line>", f"line {lineno}: expected 5 fields, got {len(fields)}")
    user, item, category, behaviour, ts = (f.strip() for f in fields)
    for name, value in (("user_id", user), ("item_id", item), ("category_id", category)):
        if not value:
            raise MessageError(TAOBAO_SCHEMA, name, f"line {lineno}: empty")
    if behaviour not in TAOBAO_TYPES:
        raise MessageError(TAOBAO_SCHEMA, "behavior_type",
                           f"line {lineno}: {behaviour!r} is not one of {', '.join(TAOBAO_TYPES)}")
    try:
        seconds = int(ts)
    except ValueError:
        raise MessageError(TAOBAO_SCHEMA, "timestamp", f"line {lineno}: not an integer: {ts!r}") from None
    kind = TAOBAO_TYPES[behaviour]
    return ClickEvent(event_id=f"tb-{lineno}", user_id=f"tb-u{user}", ts=seconds * 1000, type=kind,
                      item_id=f"tb-i{item}", category_id=f"tb-c{category}", brand_id=None,
                      price=0.0 if kind == "purchase" else None, device="app", geo="CN")


def read_taobao(path: str | Path, *, order: str = "time",
                on_error: Callable[[int, MessageError], None] | None = None) -> Iterator[ClickEvent]:
    """ClickEvents of a UserBehavior CSV, sorted by time (``order="time"``) or in file order.

    A bad line is passed to ``on_error(lineno, error)`` and skipped; without
    ``on_error`` it raises. ``order="file"`` streams (for files too big to sort in memory).
    """
    if order not in ("time", "file"):
        raise ValueError(f"order must be 'time' or 'file', got {order!r}")

    def events() -> Iterator[tuple[int, ClickEvent]]:
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    yield lineno, taobao_event(line, lineno)
                except MessageError as e:
                    if on_error is None:
                        raise
                    on_error(lineno, e)

    rows = events() if order == "file" else sorted(events(), key=lambda r: (r[1].ts, r[0]))
    for _lineno, event in rows:
        yield event


# ------------------------------------------------------------------ Open Bandit

@dataclass(frozen=True)
class ObdRecord:
    """One Open Bandit row: its impression, the click if any, and the logging propensity."""
    impression: Impression
    click: AdClick | None
    propensity: float


def obd_timestamp_ms(text: str) -> int:
    """``2019-11-24 00:03:13.442536+00:00`` → epoch milliseconds (floored)."""
    dt = datetime.fromisoformat(text.strip())
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return (dt - _EPOCH) // timedelta(milliseconds=1)


def obd_user_id(row: Mapping[str, str]) -> str:
    features = "|".join(row.get(f"user_feature_{i}", "") for i in range(4))
    return "obd-" + hashlib.sha1(features.encode()).hexdigest()[:16]


def openbandit_record(row: Mapping[str, str], *, campaign: str, policy: str) -> ObdRecord:
    """Map one row of ``<campaign>.csv`` (as read by ``csv.DictReader``) to messages."""
    index = (row.get("") or "").strip()
    if not index:
        raise MessageError(OBD_SCHEMA, "<index>", "row has no index column")
    try:
        ts = obd_timestamp_ms(row["timestamp"])
        item, position = int(row["item_id"]), int(row["position"])
        clicked, propensity = int(row["click"]) == 1, float(row["propensity_score"])
    except KeyError as e:
        raise MessageError(OBD_SCHEMA, str(e.args[0]), f"row {index}: missing column") from None
    except ValueError as e:
        raise MessageError(OBD_SCHEMA, "<row>", f"row {index}: {e}") from None
    base = f"obd-{policy}-{campaign}"
    ad_id = f"obd-{campaign}-item{item}"
    common: dict[str, Any] = dict(request_id=f"{base}-r{index}", impression_id=f"{base}-i{index}",
                  user_id=obd_user_id(row), ad_id=ad_id, campaign_id=f"obd-{campaign}", ts=ts)
    impression = Impression(**common, creative_id=ad_id, position=position, price=0.0)
    click = AdClick(click_id=f"{base}-k{index}", **common) if clicked else None
    return ObdRecord(impression, click, propensity)


def _obd_names(folder: Path) -> tuple[str, str]:
    """(campaign, policy) from ``.../<policy>/<campaign>``."""
    return folder.name, folder.parent.name or "obd"


def read_openbandit(folder: str | Path) -> Iterator[ObdRecord]:
    """Records of ``<folder>/<campaign>.csv`` in file (= time) order."""
    folder = Path(folder)
    campaign, policy = _obd_names(folder)
    path = folder / f"{campaign}.csv"
    if not path.exists():
        raise MessageError(OBD_SCHEMA, "<file>", f"{path} not found (expected <policy>/<campaign>/<campaign>.csv)")
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            yield openbandit_record(row, campaign=campaign, policy=policy)


def openbandit_catalog(folder: str | Path) -> dict:
    """A catalogue document (udfs.core.catalog format) for the items of ``item_context.csv``."""
    folder = Path(folder)
    campaign, _ = _obd_names(folder)
    path = folder / "item_context.csv"
    if not path.exists():
        raise MessageError(OBD_SCHEMA, "<file>", f"{path} not found")
    campaign_id = f"obd-{campaign}"
    creatives = []
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            item = int(row["item_id"])
            ad_id = f"obd-{campaign}-item{item}"
            creatives.append({
                "creative_id": ad_id, "ad_id": ad_id, "campaign_id": campaign_id,
                "advertiser_id": OBD_ADVERTISER, "item_id": f"obd-item{item}",
                "category_id": f"obd-f1-{row['item_feature_1'][:12]}",
                "brand_id": f"obd-f2-{row['item_feature_2'][:12]}", "price": None,
                "title": f"ZOZOTOWN {campaign} item {item}",
                "landing_url": f"https://zozo.jp/?obd_item={item}", "review_status": "approved"})
    doc: dict[str, list[dict[str, Any]]] = {"advertisers": [{"advertiser_id": OBD_ADVERTISER, "name": "ZOZOTOWN (Open Bandit)"}],
           "campaigns": [{"campaign_id": campaign_id, "advertiser_id": OBD_ADVERTISER,
                          "daily_budget": 1000.0, "bid_type": "CPM", "bid": 1.0}],
           "creatives": creatives}
    return {section: [entity_to_dict(entity_from_dict(kind, d)) for d in docs]
            for section, kind, docs in (("advertisers", "advertiser", doc["advertisers"]),
                                        ("campaigns", "campaign", doc["campaigns"]),
                                        ("creatives", "creative", doc["creatives"]))}
