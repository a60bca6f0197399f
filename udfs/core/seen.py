"""Frequency caps counted on impressions: what a user has seen, as the feedback job keeps it.

The feedback job folds each attributed impression into a per-user caps state — the very
format of :mod:`udfs.core.caps` (``"<kind>|<user>|<id>" -> ascending timestamps``, trimmed
to the longest window and the largest limit) — and stores it with the user's profile in
the online store, where the scorer reads both in one round trip.

The race: an answer's impressions reach the store a moment after the answer (the site
shows the ads, the feedback job attributes them, the write lands). A request in that gap
would see too few. So the scorer also keeps its own answers of the last
``reconcile_ms`` and :func:`merge` counts, for each key, the *stored impressions older
than that* plus *its own answers within it*. The bound, both ways:

- never fewer than the impressions the user saw, as long as an impression lands in the
  store within ``reconcile_ms`` of its answer (and the same scoring key answered);
- at most the answers of the last ``reconcile_ms`` that were never shown too many —
  an over-count that ends ``reconcile_ms`` after the answer.

Pure: plain dicts and lists; the encoding to the online store's string list is here too.
"""
from __future__ import annotations

import bisect
from typing import Iterable, Mapping

from udfs.core.caps import FrequencyCaps, State


def fold(state: State, caps: FrequencyCaps, user_id: str | None, impression) -> None:
    """Count one impression (anything with ``campaign_id``, ``creative_id`` and ``ts``) for ``user_id``."""
    caps.record(state, user_id, impression, impression.ts)


def encode(state: Mapping[str, list]) -> list[str]:
    """The state as the online store's string list: ``"<key>=<ts>,<ts>,…"``, keys sorted."""
    return [f"{k}={','.join(str(t) for t in v)}" for k, v in sorted(state.items()) if v]


def decode(entries: Iterable[str] | None) -> dict[str, list]:
    """The state back from :func:`encode`'s list; an entry that does not parse is skipped
    (the store is another process's writing: one bad entry must not stop a request)."""
    out: dict[str, list] = {}
    for e in entries or ():
        if not isinstance(e, str):
            continue
        key, sep, stamps = e.rpartition("=")
        if not sep or not key:
            continue
        try:
            out[key] = sorted(int(t) for t in stamps.split(","))
        except ValueError:
            continue
    return out


def merge(stored: Mapping[str, list], local: Mapping[str, list], now_ms: int,
          reconcile_ms: int) -> dict[str, list]:
    """What the caps rules count now: stored impressions up to ``now - reconcile_ms``, then
    the scorer's own answers after it (see the module docstring for the bound)."""
    edge = now_ms - reconcile_ms
    out: dict[str, list] = {}
    for key in set(stored) | set(local):
        old = stored.get(key) or ()
        new = local.get(key) or ()
        merged = list(old[:bisect.bisect_right(old, edge)]) + list(new[bisect.bisect_right(new, edge):])
        if merged:
            out[key] = merged
    return out


def trim_local(local: State, now_ms: int, reconcile_ms: int) -> None:
    """Forget the scorer's own answers older than ``reconcile_ms``: the store has them by then."""
    edge = now_ms - reconcile_ms
    for key in list(local):
        kept = [t for t in local[key] if t > edge]
        if kept:
            if len(kept) != len(local[key]):
                local[key] = kept
        else:
            del local[key]
