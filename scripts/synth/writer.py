"""Put a :class:`~scripts.synth.World` on disk: parquet tables, ``catalog.json``, wire JSONL.

The files' names are :mod:`models.datasets.world_layout`'s (a manifest, the catalogue document,
one parquet file per table, one JSONL file per stream); docs/generator.md lists every
column.

Ground-truth columns carry a ``latent_``, ``oracle_`` or ``p_*_oracle`` name and
appear only in parquet, never in ``catalog.json`` or the JSONL wire files.

The JSONL lines are exactly what ``Message.encode()`` produces, in time order.
They are built straight from the columns (constructing 70k validated message
objects would take most of the generation budget); the first lines of every
stream — all of them with ``validate=True`` — are rebuilt through the message
class and compared byte for byte, so a schema change cannot slip by unnoticed.
Output is deterministic: no clocks, no random names, fixed column types.
"""
from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from udfs.core.catalog import entity_from_dict, entity_to_dict
from udfs.errors import MessageError
from models.datasets import world_layout as layout
from udfs.messages.base import Message, Part, encode_json, fields
from udfs.messages.topics import FORMATS

#: Stream name -> message class of its JSONL file: its topic's format.
MESSAGE_CLASSES: dict[str, type[Message]] = {s: FORMATS[t] for s, t in layout.STREAM_TOPICS.items()}
STREAMS = layout.STREAMS
ALWAYS_VALIDATE = 100

_S, _I, _F, _B = pa.string(), pa.int64(), pa.float64(), pa.bool_()
#: Table name -> ordered (column, type) pairs.
SCHEMAS: dict[str, list[tuple[str, pa.DataType]]] = {
    "categories": [("category_id", _S), ("name", _S), ("latent_weight", _F)],
    "brands": [("brand_id", _S), ("name", _S), ("category_id", _S)],
    "users": [("user_id", _S), ("age_band", _S), ("gender", _S), ("geo", _S), ("device", _S),
              ("latent_activity", _F), ("latent_clickiness", _F), ("latent_price_pref", _F),
              ("latent_interest_categories", pa.list_(_S)), ("latent_interest_weights", pa.list_(_F))],
    "items": [("item_id", _S), ("category_id", _S), ("brand_id", _S), ("price", _F),
              ("latent_popularity", _F)],
    "advertisers": [("advertiser_id", _S), ("name", _S), ("category_ids", pa.list_(_S)),
                    ("brand_ids", pa.list_(_S))],
    "campaigns": [("campaign_id", _S), ("advertiser_id", _S), ("category_id", _S), ("status", _S),
                  ("daily_budget", _F), ("bid_type", _S), ("bid", _F), ("target_cpa", _F),
                  ("geos", pa.list_(_S)), ("devices", pa.list_(_S)), ("age_bands", pa.list_(_S)),
                  ("genders", pa.list_(_S)), ("interests", pa.list_(_S)),
                  ("schedule_hours", pa.list_(_I))],
    "creatives": [("creative_id", _S), ("ad_id", _S), ("campaign_id", _S), ("advertiser_id", _S),
                  ("item_id", _S), ("category_id", _S), ("brand_id", _S), ("price", _F),
                  ("review_status", _S), ("title", _S), ("landing_url", _S), ("latent_quality", _F)],
    "events": [("event_id", _S), ("user_id", _S), ("ts", _I), ("type", _S), ("item_id", _S),
               ("category_id", _S), ("brand_id", _S), ("price", _F), ("query", _S), ("device", _S),
               ("geo", _S), ("consent_personalisation", _B), ("consent_measurement", _B), ("session_id", _S)],
    "requests": [("request_id", _S), ("user_id", _S), ("ts", _I), ("slot", _S), ("num_ads", _I),
                 ("device", _S), ("geo", _S), ("page_category", _S), ("hour", _I),
                 ("n_eligible", _I), ("consent_personalisation", _B), ("consent_measurement", _B)],
    "impressions": [("request_id", _S), ("impression_id", _S), ("user_id", _S), ("ad_id", _S),
                    ("campaign_id", _S), ("creative_id", _S), ("advertiser_id", _S),
                    ("category_id", _S), ("brand_id", _S), ("ad_price", _F), ("ts", _I),
                    ("position", _I), ("slot", _S), ("device", _S), ("geo", _S), ("hour", _I),
                    ("page_category", _S), ("price", _F), ("n_eligible", _I), ("propensity", _F),
                    ("clicked", _B), ("click_id", _S), ("click_ts", _I), ("converted", _B),
                    ("conversion_id", _S), ("conversion_ts", _I), ("conversion_value", _F),
                    ("p_click_oracle", _F), ("p_convert_oracle", _F), ("oracle_cat_score", _F),
                    ("oracle_brand_score", _F), ("oracle_avg_viewed_price", _F),
                    ("latent_quality", _F), ("latent_clickiness", _F)],
    "ad_clicks": [("click_id", _S), ("impression_id", _S), ("request_id", _S), ("user_id", _S),
                  ("ad_id", _S), ("campaign_id", _S), ("ts", _I)],
    "conversions": [("conversion_id", _S), ("impression_id", _S), ("click_id", _S),
                    ("user_id", _S), ("campaign_id", _S), ("ts", _I), ("value", _F)],
    # the user table `adstream users load` takes (udfs.core.users; docs/interests.md)
    "user_attributes": [("user_id", _S), ("age_band", _S), ("gender", _S), ("region", _S),
                        ("registered_ts", _I), ("membership_tier", _S)],
}


# ------------------------------------------------------------------ tables

def static_tables(world) -> dict[str, pd.DataFrame]:
    """The static world as DataFrames (latent attributes prefixed ``latent_``)."""
    w = world.static
    return {
        "categories": pd.DataFrame({"category_id": [c.category_id for c in w.categories],
                                    "name": [c.name for c in w.categories],
                                    "latent_weight": w.category_weight}),
        "brands": pd.DataFrame([dataclasses.asdict(b) for b in w.brands],
                               columns=["brand_id", "name", "category_id"]),
        "users": pd.DataFrame({
            "user_id": [u.user_id for u in w.users], "age_band": [u.age_band for u in w.users],
            "gender": [u.gender for u in w.users], "geo": [u.geo for u in w.users],
            "device": [u.device for u in w.users],
            "latent_activity": [u.activity for u in w.users],
            "latent_clickiness": [u.clickiness for u in w.users],
            "latent_price_pref": [u.price_pref for u in w.users],
            "latent_interest_categories": [[c for c, _ in u.interests] for u in w.users],
            "latent_interest_weights": [[x for _, x in u.interests] for u in w.users]}),
        "items": pd.DataFrame({
            "item_id": [i.item_id for i in w.items], "category_id": [i.category_id for i in w.items],
            "brand_id": [i.brand_id for i in w.items], "price": [i.price for i in w.items],
            "latent_popularity": [i.popularity for i in w.items]}),
        "advertisers": pd.DataFrame({
            "advertiser_id": [a.advertiser_id for a in w.advertisers],
            "name": [a.name for a in w.advertisers],
            "category_ids": [list(a.category_ids) for a in w.advertisers],
            "brand_ids": [list(a.brand_ids) for a in w.advertisers]}),
        "campaigns": pd.DataFrame([{
            "campaign_id": c.campaign_id, "advertiser_id": c.advertiser_id,
            "category_id": c.category_id, "status": c.status, "daily_budget": c.daily_budget,
            "bid_type": c.bid_type, "bid": c.bid, "target_cpa": c.target_cpa,
            **{k: list(v) for k, v in dataclasses.asdict(c.targeting).items()},
            "schedule_hours": list(c.schedule_hours)} for c in w.campaigns],
            columns=[n for n, _ in SCHEMAS["campaigns"]]),
        "creatives": pd.DataFrame([{
            **{k: getattr(c, k) for k in ("creative_id", "ad_id", "campaign_id", "advertiser_id",
                                          "item_id", "category_id", "brand_id", "price",
                                          "review_status", "title", "landing_url")},
            "latent_quality": c.quality} for c in w.creatives],
            columns=[n for n, _ in SCHEMAS["creatives"]]),
    }


def tables(world) -> dict[str, pd.DataFrame]:
    """Every table of the world, static and streams, by file stem."""
    s = world.streams
    return {**static_tables(world), "events": s.events, "requests": s.requests,
            "impressions": s.impressions, "ad_clicks": s.ad_clicks, "conversions": s.conversions,
            "user_attributes": user_attributes_table(world.static)}


TIER_SHARES = (("platinum", 0.05), ("gold", 0.15), ("silver", 0.30))   # by activity rank; the rest basic
MAX_TENURE_DAYS = 3 * 365


def user_attributes_table(w) -> pd.DataFrame:
    """The user table a shop's account database would give: the users' demographics, an
    account region (their geo), a registration date and a membership tier.

    Drawn without the world's generator (so every other table stays as it was for a seed):
    the registration is 1..MAX_TENURE_DAYS days before the world starts, from a hash of the
    seed and user id; the tier follows the user's latent activity rank (the most active 5 %
    platinum, then 15 % gold, 30 % silver), as a loyalty scheme rewards activity."""
    import hashlib
    p = w.params
    rank = np.argsort(np.argsort([-u.activity for u in w.users], kind="stable"), kind="stable")
    cuts = np.cumsum([s for _, s in TIER_SHARES]) * len(w.users)
    tiers = [next((t for (t, _), c in zip(TIER_SHARES, cuts) if r < c), "basic") for r in rank.tolist()]
    days = [1 + int.from_bytes(hashlib.sha256(f"{p.seed}:{u.user_id}".encode()).digest()[:4], "big")
            % MAX_TENURE_DAYS for u in w.users]
    return pd.DataFrame({
        "user_id": [u.user_id for u in w.users], "age_band": [u.age_band for u in w.users],
        "gender": [u.gender for u in w.users], "region": [u.geo for u in w.users],
        "registered_ts": np.array([p.start_ts_ms - d * 86_400_000 for d in days], dtype=np.int64),
        "membership_tier": tiers})


def _arrow(name: str, df: pd.DataFrame) -> pa.Table:
    schema = SCHEMAS[name]
    names = [n for n, _ in schema]
    if list(df.columns) != names:
        raise ValueError(f"{name}: columns {list(df.columns)} differ from the schema {names}")
    arrays = [pa.array(df[n].to_numpy() if pa.types.is_primitive(t) else df[n].tolist(),
                       type=t, from_pandas=True) for n, t in schema]
    return pa.Table.from_arrays(arrays, schema=pa.schema(schema))


# ------------------------------------------------------------------ catalogue

def catalog_document(world) -> dict:
    """``{"advertisers", "campaigns", "creatives"}`` as :meth:`udfs.core.catalog.Catalog.from_json` reads it.

    Every entity goes through :func:`udfs.core.catalog.entity_from_dict`, so the file
    follows the catalogue's format (field order, defaults) and fails loudly if
    that format changes. Latent creative quality is left out: the scoring job
    must learn it from clicks.
    """
    w = world.static
    advertisers = [{"advertiser_id": a.advertiser_id, "name": a.name, "status": "active"}
                   for a in w.advertisers]
    campaigns = [{
        "campaign_id": c.campaign_id, "advertiser_id": c.advertiser_id, "status": c.status,
        "daily_budget": c.daily_budget, "bid_type": c.bid_type, "bid": c.bid,
        "target_cpa": c.target_cpa,
        "targeting": {k: list(v) for k, v in dataclasses.asdict(c.targeting).items()},
        "schedule": {"hours": list(c.schedule_hours)},
    } for c in w.campaigns]
    creatives = [{
        "creative_id": c.creative_id, "ad_id": c.ad_id, "campaign_id": c.campaign_id,
        "advertiser_id": c.advertiser_id, "item_id": c.item_id, "category_id": c.category_id,
        "brand_id": c.brand_id, "price": c.price, "title": c.title,
        "landing_url": c.landing_url, "review_status": c.review_status,
        "review_reason": "synthetic: rejected at generation" if c.review_status == "rejected" else None,
    } for c in w.creatives]
    return {section: [entity_to_dict(entity_from_dict(kind, d)) for d in docs]
            for section, kind, docs in (("advertisers", "advertiser", advertisers),
                                        ("campaigns", "campaign", campaigns),
                                        ("creatives", "creative", creatives))}


# ------------------------------------------------------------------ wire format

def _column(df: pd.DataFrame, name: str) -> list:
    values = df[name].tolist()
    if df[name].dtype.kind == "f":
        values = [None if v != v else v for v in values]    # NaN -> null
    return values


def wire_records(world, stream: str) -> Iterator[dict]:
    """The stream's messages as plain dicts, in ``Message.to_dict()`` key order, time order."""
    cls = MESSAGE_CLASSES[stream]
    df = getattr(world.streams, stream)
    hints = typing.get_type_hints(cls)
    cols: dict[str, list] = {}
    for f in fields(cls):
        part = hints[f.name]
        if isinstance(part, type) and issubclass(part, Part):   # nested object, e.g. AdRequest.context
            sub = [g.name for g in fields(part)]
            rows = zip(*[_column(df, g) for g in sub])
            cols[f.name] = [dict(zip(sub, r)) for r in rows]
        elif f.name not in df.columns and any(c.startswith(f.name + "_") for c in df.columns):
            # a part kept flat in the table, <field>_<sub> (consent): an object, null when all are
            sub = [c[len(f.name) + 1:] for c in df.columns if c.startswith(f.name + "_")]
            rows = zip(*[_column(df, f"{f.name}_{g}") for g in sub])
            cols[f.name] = [None if all(v is None for v in r) else dict(zip(sub, r)) for r in rows]
        else:
            cols[f.name] = _column(df, f.name)
    head = {"schema": cls.SCHEMA, "v": cls.VERSION}
    names = list(cols)
    for row in zip(*cols.values()):
        yield {**head, **dict(zip(names, row))}


def encode_record(record: dict) -> bytes:
    """Bytes of one wire record, exactly as ``Message.encode()`` would write them (its encoder)."""
    return encode_json(record)


def messages(world, stream: str) -> Iterator[Message]:
    """The stream as validated message objects (slow; for tests and tools)."""
    cls = MESSAGE_CLASSES[stream]
    for rec in wire_records(world, stream):
        yield cls.from_dict(rec)


def _write_jsonl(world, stream: str, path: Path, validate: bool) -> int:
    cls = MESSAGE_CLASSES[stream]
    n = 0
    with open(path, "wb") as out:
        for rec in wire_records(world, stream):
            line = encode_record(rec)
            if validate or n < ALWAYS_VALIDATE:
                if cls.from_dict(rec).encode() != line:
                    raise MessageError(cls.SCHEMA, "<encoding>",
                                       f"line {n + 1} of {path.name} differs from Message.encode()")
            out.write(line + b"\n")
            n += 1
    return n


def _json_bytes(doc: Any) -> bytes:
    return (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode()


def manifest(world) -> dict:
    s = world.streams
    return {
        "format": "adstream-synthetic-world/1",
        "seed": world.seed,
        "generator": dataclasses.asdict(world.params),
        "oracle": dataclasses.asdict(world.oracle_params),
        "counts": {"users": len(world.static.users), "items": len(world.static.items),
                   "advertisers": len(world.static.advertisers),
                   "campaigns": len(world.static.campaigns),
                   "creatives": len(world.static.creatives),
                   **{name: len(getattr(s, name)) for name in STREAMS}},
    }


def write(world, out_dir: str | Path, *, validate: bool = False,
          progress: Callable[[str], None] | None = None) -> dict[str, Path]:
    """Write every file of ``world`` into ``out_dir`` (created; existing files replaced).

    ``validate=True`` checks every JSONL line through its message class (slower).
    ``progress(name)`` is called after each file. Returns file stem -> path.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}

    def done(key: str, path: Path) -> None:
        written[key] = path
        if progress:
            progress(path.name)

    for name, df in tables(world).items():
        path = layout.table(out, name)
        pq.write_table(_arrow(name, df), path, compression="zstd")
        done(name, path)
    path = layout.catalog(out)
    path.write_bytes(_json_bytes(catalog_document(world)))
    done("catalog", path)
    for stream in STREAMS:
        path = layout.stream(out, stream)
        _write_jsonl(world, stream, path, validate)
        done(path.name, path)
    path = layout.manifest(out)
    path.write_bytes(_json_bytes(manifest(world)))
    done("manifest", path)
    return written


def file_count() -> int:
    """How many files :func:`write` produces (for progress bars)."""
    return len(SCHEMAS) + 1 + len(STREAMS) + 1


def read_table(out_dir: str | Path, name: str) -> pd.DataFrame:
    """One parquet table of a written world."""
    return pq.read_table(layout.table(out_dir, name)).to_pandas()
