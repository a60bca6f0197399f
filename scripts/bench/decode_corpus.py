"""The records ``scripts/bench_decode.py`` decodes: valid ones per format, and invalid ones by fault.

Valid records come from a small synthetic world (``scripts.synth``, seeded): its events,
requests, impressions, ad clicks and conversions as the replayer writes them; the three
formats the world has no stream for are derived from it (a ranked answer per request
from that request's impressions, dead letters quoting broken click records, erasure
requests for its users), each built through its ``udfs.messages`` class, so valid by
today's rules. Invalid records take a valid one and break it in one way, one class of
fault each (``FAULTS``), the classes today's tests cover. Field paths and limits are
read from the formats' own field specs, so a new field is covered without listing it.
"""
from __future__ import annotations

import copy
import itertools
import json
import random
import typing
from dataclasses import dataclass
from typing import Any, Mapping

from msgspec import inspect as mi

from udfs import messages as M
from udfs.errors import MessageError
from udfs.messages.base import Part, fields, strip
from udfs.messages.bounds import FLOAT_MAX, INT_MAX, INT_MIN, TimeBounds

FAULTS = ("wrong_type", "missing_field", "out_of_range", "too_old_ts", "bad_choice", "unknown_field",
          "wrong_schema", "float_version", "bool_version", "unknown_version", "non_utf8_bytes",
          "replacement_char", "lone_surrogate", "too_long", "future_ts", "deep_nesting",
          "huge_integer", "nan", "cross_field", "empty_id", "not_json")
# Fields whose check() refuses an empty string.
NONEMPTY = {"clickstream": ("event_id", "user_id"), "ad_request": ("request_id", "slot"),
            "ranked_ads": ("request_id",), "erasure": ("user_id",)}
MARK = "@@MARK@@"   # a value replaced in the encoded bytes by what json.dumps cannot write
IMPLICIT = {INT_MIN, INT_MAX, -FLOAT_MAX, FLOAT_MAX}   # every field's bounds, not its spec's


@dataclass(frozen=True)
class Leaf:
    """One scalar field of a format, nested ones included: ``("ads", 0, "pctr")``."""
    path: tuple
    tp: type
    meta: Mapping[str, Any]      # the field's spec: min, max, choices, max_len, replaced_ok
    required: bool


def _meta(declared) -> tuple[type, dict]:
    """(the scalar type, its spec as the corpus reads it) of a field's declared msgspec type."""
    tp, extra = strip(declared)
    info = mi.type_info(declared)
    while isinstance(info, (mi.Metadata, mi.UnionType)):   # to the constrained type, without | None
        info = info.type if isinstance(info, mi.Metadata) else next(
            t for t in info.types if not isinstance(t, mi.NoneType))
    meta: dict = {"replaced_ok": bool(extra.get("replaced_ok"))}
    if isinstance(info, mi.LiteralType):
        choices = typing.get_args(tp)
        return type(choices[0]), {**meta, "choices": choices}
    if isinstance(info, (mi.IntType, mi.FloatType)):
        meta.update({k: v for k, v in (("min", info.ge), ("max", info.le)) if v is not None and v not in IMPLICIT})
    if isinstance(info, mi.StrType):
        meta["max_len"] = info.max_length
    return tp, meta


def leaves(cls: type, prefix: tuple = ()) -> list[Leaf]:
    out = []
    hints = typing.get_type_hints(cls, include_extras=True)
    for f in fields(cls):
        base = strip(hints[f.name])[0]
        origin = typing.get_origin(base)
        if isinstance(base, type) and issubclass(base, Part):
            out += leaves(base, prefix + (f.name,))
        elif origin is tuple:
            out += leaves(strip(typing.get_args(base)[0])[0], prefix + (f.name, 0))
        elif origin is not None and origin is not typing.Literal:   # a mapping of stage -> ms: its first key
            out.append(Leaf(prefix + (f.name, "*"), float, {}, False))
        else:
            tp, meta = _meta(hints[f.name])
            out.append(Leaf(prefix + (f.name,), tp, meta, f.required))
    return out


# ------------------------------------------------------------------ valid records

def _world(seed: int):
    from scripts import synth
    from udfs import config
    return synth.generate(config.load("test").generator, seed, users=200, events=3000, requests=3000, days=1)


def _ranked(req: dict, imps: list[dict], adv: dict, rng: random.Random) -> M.RankedAds:
    ads = tuple(M.RankedAd(ad_id=i["ad_id"], campaign_id=i["campaign_id"], creative_id=i["creative_id"],
                           advertiser_id=adv.get(i["creative_id"], "adv000"), rank=r,
                           pctr=round(rng.uniform(0.001, 0.08), 6), ecpm=round(rng.uniform(0.5, 30), 4),
                           price=i["price"]) for r, i in enumerate(imps, 1))
    stages = ("decode", "profile", "eligible", "caps", "featurize", "model", "auction")
    timings = {s: round(rng.uniform(0.005, 0.3), 4) for s in stages}
    timings["total"] = round(sum(timings.values()), 4)
    return M.RankedAds(request_id=req["request_id"], ts=req["ts"] + rng.randint(1, 9), ads=ads,
                       model_version="v0007", variant=rng.choice(("control", "B")),
                       fallback=not ads, fallback_reason=None if ads else "no eligible ads", timings_ms=timings)


def _dead_letter(doc: dict, rng: random.Random, now_ms: int) -> M.DeadLetter:
    bad = dict(doc, ts="yesterday") if rng.random() < 0.5 else dict(doc, type="hover")
    raw = json.dumps(bad, separators=(",", ":"))
    try:
        M.ClickEvent.decode(raw)
        raise AssertionError("a broken record decoded")
    except MessageError as e:
        return M.DeadLetter.of(raw, str(e), e.kind, "clicks.v1", now_ms, stage="profile.apply.v1", field=e.field)


def valid_messages(n: int, seed: int, now_ms: int, events: int = 0) -> dict[type, list]:
    """Up to ``n`` valid messages of every format in ``messages.ENVELOPED`` (``events`` click
    events, when more: the profile step's batch)."""
    from scripts.synth import writer as W
    world, rng = _world(seed), random.Random(seed)
    size = {"impressions": n * 3, "events": max(n, events)}
    take = {s: list(itertools.islice(W.messages(world, s), size.get(s, n))) for s in W.STREAMS}
    by_request: dict[str, list[dict]] = {}
    for imp in W.wire_records(world, "impressions"):
        by_request.setdefault(imp["request_id"], []).append(imp)
    adv = {c.creative_id: c.advertiser_id for c in world.static.creatives}
    convs = take["conversions"]
    for imp in take["impressions"][:max(0, n - len(convs))]:   # the world has few: derive the rest
        convs.append(M.Conversion(conversion_id=f"cv{imp.impression_id[2:]}", impression_id=imp.impression_id,
                                  click_id=None, user_id=imp.user_id, campaign_id=imp.campaign_id,
                                  ts=imp.ts + rng.randint(60_000, 3_600_000), value=round(rng.uniform(5, 300), 2)))
    requests = [r.to_dict() for r in take["requests"]]
    clicks = [e.to_dict() for e in take["events"][:n]]
    return {
        M.ClickEvent: take["events"], M.AdRequest: take["requests"],
        M.RankedAds: [_ranked(r, by_request.get(r["request_id"], []), adv, rng) for r in requests],
        M.Impression: take["impressions"][:n], M.AdClick: take["ad_clicks"], M.Conversion: convs[:n],
        M.DeadLetter: [_dead_letter(e, rng, now_ms) for e in clicks],
        M.ErasureRequest: [M.ErasureRequest(request_id=f"pd-{i:05d}", user_id=e["user_id"], ts=now_ms - i,
                                            requested_by="privacy-desk",
                                            reason=rng.choice(("user_request", "consent_withdrawn", "legal")))
                           for i, e in enumerate(clicks)],
    }


# ------------------------------------------------------------------ invalid records

def _get(doc, path):
    for p in path:
        doc = doc[p]
    return doc


def _set(doc, path, value):
    _get(doc, path[:-1])[path[-1]] = value


def _present(doc: dict, leaf: Leaf) -> Leaf | None:
    """The leaf with its path resolved in this record (a mapping's first key), or None when
    the record does not hold it (no ads, no timings)."""
    path, node = [], doc
    for p in leaf.path:
        if p == "*":
            p = next(iter(node), None) if isinstance(node, dict) else None
        try:
            node = node[p]
        except (KeyError, IndexError, TypeError):
            return None
        path.append(p)
    return Leaf(tuple(path), leaf.tp, leaf.meta, leaf.required)


def _pick(rng, doc, cls, test) -> Leaf | None:
    found = [lf for lf in map(lambda x: _present(doc, x), leaves(cls)) if lf is not None and test(lf)]
    return rng.choice(found) if found else None


def _dump(doc, marks: Mapping[str, bytes] = {}, ascii_only: bool = False) -> bytes:
    out = json.dumps(doc, ensure_ascii=ascii_only, allow_nan=True).encode("utf-8", "surrogatepass")
    for mark, raw in marks.items():
        out = out.replace(mark.encode(), raw)
    return out


# (no null: several fields are nullable, where it is valid)
_WRONG = {str: (7, True, [], {}), int: ("12", 1.5, True), float: ("1.5", True, [1.0]),
          bool: (1, "true", 0)}


def _text_leaf(lf: Leaf) -> bool:
    return lf.tp is str and not lf.meta.get("choices")


def _envelope_fault(fault: str, doc: dict, now_ms: int, bounds: TimeBounds, rng) -> bytes | None:
    changes = {"wrong_schema": ("schema", "other"), "float_version": ("v", 1.0), "bool_version": ("v", True),
               "unknown_version": ("v", 2), "too_old_ts": ("ts", bounds.min_ts_ms - 1),
               "future_ts": ("ts", now_ms + bounds.max_future_skew_ms + rng.randint(1, 3600) * 1000)}
    if fault in changes:
        k, v = changes[fault]
        return _dump({**doc, k: v})
    if fault == "unknown_field":
        return _dump({**doc, "surprise": rng.choice((1, "x", None))})
    if fault == "not_json":
        raw = _dump(doc)
        return raw[:rng.randint(1, len(raw) - 1)]
    if fault == "deep_nesting":
        if rng.random() < 0.5:
            return b"[" * 100_000 + b"]" * 100_000
        k = rng.choice([k for k in doc if k not in ("schema", "v")])
        return _dump({**doc, k: MARK}, {f'"{MARK}"': b"[" * 50_000 + b"]" * 50_000})
    return None


def _cross_fault(cls: type, doc: dict, rng) -> bytes | None:
    if cls is M.ClickEvent:
        kind = rng.choice(("search", "purchase", "view"))
        drop = {"search": "query", "purchase": "price", "view": "item_id"}[kind]
        return _dump({**doc, "type": kind, drop: None})
    if cls is M.RankedAds:
        if doc["ads"] and rng.random() < 0.5:
            d = copy.deepcopy(doc)
            d["ads"][0]["rank"] = len(d["ads"]) + 1
            return _dump(d)
        return _dump({**doc, "fallback": True, "fallback_reason": None})
    return None


def _field_fault(fault: str, cls: type, doc: dict, rng) -> bytes | None:
    d = copy.deepcopy(doc)
    if fault == "empty_id":
        names = NONEMPTY.get(cls.SCHEMA)
        return _dump({**doc, rng.choice(names): ""}) if names else None
    tests = {"wrong_type": lambda lf: True, "missing_field": lambda lf: lf.required,
             "out_of_range": lambda lf: lf.tp in (int, float) and (lf.meta.get("min") is not None
                                                                  or lf.meta.get("max") is not None),
             "bad_choice": lambda lf: bool(lf.meta.get("choices")),
             "non_utf8_bytes": _text_leaf, "lone_surrogate": _text_leaf,
             "replacement_char": lambda lf: _text_leaf(lf) and not lf.meta.get("replaced_ok"),
             "too_long": lambda lf: lf.tp is str and (lf.meta.get("max_len") or 10**9) <= 4096,
             "huge_integer": lambda lf: lf.tp in (int, float), "nan": lambda lf: lf.tp is float}
    lf = _pick(rng, d, cls, tests[fault])
    if lf is None:
        return None
    if fault == "missing_field":
        del _get(d, lf.path[:-1])[lf.path[-1]]
        return _dump(d)
    old = _get(d, lf.path) if fault in ("replacement_char", "lone_surrogate") else None
    value, marks, ascii_only = _field_value(fault, lf, old, rng)
    _set(d, lf.path, value)
    return _dump(d, marks, ascii_only)


def _field_value(fault: str, lf: Leaf, old, rng) -> tuple[Any, dict, bool]:
    """(new value, marks to splice into the bytes, write ASCII-only) for one field fault."""
    if fault == "wrong_type":
        return rng.choice(_WRONG[lf.tp]), {}, False
    if fault == "out_of_range":
        lo, hi = lf.meta.get("min"), lf.meta.get("max")
        step = 1 if lf.tp is int else 0.5
        return (lo - step if lo is not None and (hi is None or rng.random() < 0.5) else hi + step), {}, False
    if fault == "bad_choice":
        return "nope", {}, False
    if fault == "non_utf8_bytes":
        return "ab" + MARK, {MARK: rng.choice((b"\xff", b"\xed\xa0\x80", b"\xc3"))}, False
    if fault in ("replacement_char", "lone_surrogate"):
        text = old if isinstance(old, str) else "x"
        i = rng.randint(0, len(text))
        bad = "\ufffd" if fault == "replacement_char" else rng.choice(("\ud800", "\udfff"))
        return text[:i] + bad + text[i:], {}, fault == "lone_surrogate"
    if fault == "too_long":
        return "x" * (lf.meta.get("max_len") + 1), {}, False
    if fault == "nan":
        return rng.choice((float("nan"), float("inf"), float("-inf"))), {}, False
    # huge_integer: past the digit limit, past a float, or one past a Java long
    choice = rng.choice(("digits", "float", "long"))
    if choice == "long" and lf.tp is int and lf.path[-1] != "ts":
        return INT_MAX + 1, {}, False
    if choice == "float" and lf.tp is float:
        return MARK, {f'"{MARK}"': b"1" + b"0" * 400}, False
    return MARK, {f'"{MARK}"': b"7" * 5000}, False


def invalid_records(cls: type, valid: list, per_fault: int, now_ms: int, bounds: TimeBounds,
                    seed: int) -> list[tuple[str, bytes]]:
    """(fault, bytes) records: ``per_fault`` of every fault that applies to the format."""
    rng = random.Random(f"{seed}:{cls.SCHEMA}")
    docs = [m.to_dict() for m in valid]
    out = []
    for fault in FAULTS:
        for i in range(per_fault):
            doc = docs[rng.randrange(len(docs))]
            raw = (_envelope_fault(fault, doc, now_ms, bounds, rng) if fault in _ENVELOPE else
                   _cross_fault(cls, doc, rng) if fault == "cross_field" else _field_fault(fault, cls, doc, rng))
            if raw is None:
                break      # this format has no field this fault applies to
            out.append((fault, raw))
    return out


_ENVELOPE = {"wrong_schema", "float_version", "bool_version", "unknown_version", "too_old_ts", "future_ts",
             "unknown_field", "not_json", "deep_nesting"}


# ------------------------------------------------------------------ edge cases of the JSON text

def _splice(raw: bytes, key: str, literal: bytes) -> bytes:
    """``raw`` with the top-level ``key``'s value written as ``literal`` (the record's own bytes
    otherwise), for what json.dumps would never write: 1E+2, -0, a raw tab in a string."""
    doc = json.loads(raw)
    return _dump({**doc, key: MARK}, {f'"{MARK}"': literal})


def edge_records(cls: type, valid: list) -> list[tuple[str, bytes]]:
    """Legal-or-not JSON spellings of one valid record that the generators never write: a BOM,
    raw control characters, duplicate keys, exponents, escapes, overlong UTF-8."""
    raw = valid[0].encode()
    top = [lf for lf in leaves(cls) if len(lf.path) == 1]
    text = next(lf.path[0] for lf in top if _text_leaf(lf) and lf.required)
    ints = [lf.path[0] for lf in top if lf.tp is int]
    floats = [lf.path[0] for lf in top if lf.tp is float]
    val = json.loads(raw)[text]
    out = [("bom", b"\xef\xbb\xbf" + raw), ("padded", b"\n\t " + raw + b" \r\n"),
           ("two_objects", raw + raw), ("nul_outside", raw[:-1] + b"\x00}"),
           ("raw_tab_in_string", _splice(raw, text, b'"' + val.encode() + b'\tx"')),
           ("raw_newline_in_string", _splice(raw, text, b'"a\nb"')),
           ("escaped_solidus", _splice(raw, text, b'"a\\/b"')),
           ("surrogate_pair_escape", _splice(raw, text, b'"a\\ud83d\\ude00"')),
           ("reversed_surrogates", _splice(raw, text, b'"a\\udc00\\ud800"')),
           ("u2028", _splice(raw, text, '"a\u2028b"'.encode())),
           ("overlong_utf8", _splice(raw, text, b'"a\xc0\xafb"')),
           ("duplicate_key", raw[:-1] + b',"' + text.encode() + b'":' + json.dumps(val).encode() + b"}"),
           ("duplicate_key_bad_last", raw[:-1] + b',"' + text.encode() + b'":7}')]
    for key in ints:
        out += [(f"int_{key}_minus_zero", _splice(raw, key, b"-0")),
                (f"int_{key}_exponent", _splice(raw, key, b"1E+2"))]
    for key in floats:
        out += [(f"float_{key}_tiny", _splice(raw, key, b"1e-400")), (f"float_{key}_int", _splice(raw, key, b"32")),
                (f"float_{key}_minus_zero", _splice(raw, key, b"-0.0")),
                (f"float_{key}_17_digits", _splice(raw, key, b"0.30000000000000004"))]
    return out


def damaged_records(valid: list[bytes], n: int, seed: int) -> list[bytes]:
    """``n`` valid encodings with 1-4 random byte edits each (flip, insert, delete, cut):
    raw control characters, broken UTF-8 and broken syntax at any offset."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        raw = bytearray(rng.choice(valid))
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(raw) or 1)
            op = rng.choice(("flip", "insert", "delete", "cut"))
            if op == "flip" and raw:
                raw[i] ^= rng.randint(1, 255)
            elif op == "insert":
                raw[i:i] = bytes(rng.randint(0, 255) for _ in range(rng.randint(1, 3)))
            elif op == "delete":
                del raw[i:i + rng.randint(1, 3)]
            elif len(raw) > 1:
                del raw[max(1, i):]
        out.append(bytes(raw))
    return out
