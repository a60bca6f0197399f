"""Search keywords → category intent: the tokeniser, the keyword map and how it is learnt.

**Tokeniser** (one for every language the site's queries come in, no dictionary): the
query is lower-cased, then cut into runs of letters/digits. A run of CJK characters (Han,
kana, Hangul) becomes its character bigrams ("跑步鞋" → "跑步", "步鞋"; a lone character
stays one token), because Chinese has no spaces and bigrams are the usual dictionary-free
unit that still carries meaning; any other run is one word token ("Running-Shoes" →
"running", "shoes"). One regular expression, compiled once at import: the per-event cost
is one ``findall`` and, in the fold, one dict look-up per token (``KeywordMap.intent`` also
memoises whole queries, which repeat a lot).

**Keyword map**: token → ((category, weight), …), weights of one token summing to 1. It is
learnt offline (:func:`learn`) from the co-occurrence of a search with the category views that
follow it in the same session: each (token, category) pair counts once per search whose
following views hit the category, weighted by the share of those views in the category;
a token's row is then scaled by its inverse document frequency over sessions (a token in
every session says little), pairs below ``min_count`` searches are dropped, and each row is
cut to its ``top_k`` categories and normalised. The profile job loads it at start
(``profile.keyword_map``) and folds each search into decayed per-category search intent:
``Σ_token idf(token) · weight(token, category)`` / number of known tokens.

Pure: no I/O (the JSON file is read by ``udfs.io.keyword_map``).
"""
from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

FORMAT = "adstream.keyword_map"
VERSION = 1

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
# A CJK run, or a run of other letters/digits (\w minus the underscore and CJK).
_RUN = re.compile(f"[{_CJK}]+|[^\\W_{_CJK}]+")
_IS_CJK = re.compile(f"[{_CJK}]")


def tokenise(text: str | None) -> list[str]:
    """Lower-cased word tokens for Latin (and other spaced) scripts, character bigrams for CJK."""
    if not text:
        return []
    out: list[str] = []
    for run in _RUN.findall(text.lower()):
        if _IS_CJK.match(run):
            if len(run) == 1:
                out.append(run)
            else:
                out.extend(run[i:i + 2] for i in range(len(run) - 1))
        else:
            out.append(run)
    return out


@dataclass(eq=False)
class KeywordMap:
    """token → ((category, weight), …) and the token's idf; what a search says about intent."""
    rows: Mapping[str, tuple[tuple[str, float], ...]]
    idf: Mapping[str, float]
    cache_size: int = 50_000
    _memo: dict = field(default_factory=dict, repr=False)

    def intent(self, query: str | None) -> tuple[tuple[str, float], ...]:
        """(category, weight) of one query: the known tokens' rows, each scaled by its idf,
        averaged over the known tokens; () when no token is known. Memoised per query."""
        hit = self._memo.get(query)
        if hit is not None:
            return hit
        acc: dict[str, float] = {}
        known = 0
        for tok in tokenise(query):
            row = self.rows.get(tok)
            if row is None:
                continue
            known += 1
            w_tok = self.idf.get(tok, 1.0)
            for cat, w in row:
                acc[cat] = acc.get(cat, 0.0) + w_tok * w
        out = tuple(sorted(((c, round(v / known, 9)) for c, v in acc.items()),
                           key=lambda kv: (-kv[1], kv[0]))) if known else ()
        if len(self._memo) >= self.cache_size:
            self._memo.clear()
        self._memo[query] = out
        return out

    def to_doc(self) -> dict:
        return {"format": FORMAT, "version": VERSION,
                "tokens": {t: {"idf": round(self.idf.get(t, 1.0), 6),
                               "categories": [[c, round(w, 6)] for c, w in row]}
                           for t, row in sorted(self.rows.items())}}

    @classmethod
    def from_doc(cls, doc: Mapping) -> "KeywordMap":
        """From :meth:`to_doc`'s shape; raises ValueError naming what is wrong."""
        if not isinstance(doc, Mapping) or doc.get("format") != FORMAT:
            raise ValueError(f"not a keyword map (expected format {FORMAT!r})")
        if doc.get("version") != VERSION:
            raise ValueError(f"keyword map version {doc.get('version')!r}; this code reads {VERSION}")
        rows, idf = {}, {}
        for tok, entry in (doc.get("tokens") or {}).items():
            try:
                rows[tok] = tuple((str(c), float(w)) for c, w in entry["categories"])
                idf[tok] = float(entry.get("idf", 1.0))
            except (KeyError, TypeError, ValueError) as e:
                raise ValueError(f"keyword map token {tok!r}: {e}") from e
        return cls(rows, idf)


@dataclass(frozen=True)
class LearnParams:
    follow_views: int = 5    # views after a search (same session) that count as its outcome
    min_count: int = 2       # a (token, category) pair seen in fewer searches is dropped
    top_k: int = 3           # categories kept per token


def learn(events: Iterable[tuple[str, int, str, str | None, str | None]],
          p: LearnParams = LearnParams()) -> KeywordMap:
    """Learn the map from events ``(session_id, ts, type, query, category_id)``, any order.

    A search's outcome is the categories of the next ``follow_views`` views of its session
    (a later search ends it). Token document frequency is counted over sessions.
    """
    sessions: dict[str, list] = defaultdict(list)
    for sid, ts, typ, query, cat in events:
        if typ == "search" or typ == "view":
            sessions[sid].append((int(ts), typ, query, cat))
    pair: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    searches: dict[tuple[str, str], int] = defaultdict(int)
    df: dict[str, int] = defaultdict(int)
    for evs in sessions.values():
        evs.sort(key=lambda e: e[0])
        seen_tokens: set[str] = set()
        for i, (_, typ, query, _) in enumerate(evs):
            if typ != "search":
                continue
            toks = set(tokenise(query))
            seen_tokens |= toks
            hits = _following_views(evs, i, p.follow_views)
            if not hits or not toks:
                continue
            share = {c: n / len(hits) for c, n in _counts(hits).items()}
            for tok in toks:
                for c, s in share.items():
                    pair[tok][c] += s
                    searches[(tok, c)] += 1
        for tok in seen_tokens:
            df[tok] += 1
    n_docs = max(len(sessions), 1)
    rows, idf = {}, {}
    for tok, cats in pair.items():
        kept = sorted(((c, v) for c, v in cats.items() if searches[(tok, c)] >= p.min_count),
                      key=lambda kv: (-kv[1], kv[0]))[: p.top_k]
        total = sum(v for _, v in kept)
        if total <= 0:
            continue
        rows[tok] = tuple((c, v / total) for c, v in kept)
        idf[tok] = math.log((1 + n_docs) / (1 + df[tok])) + 1.0   # smoothed, always > 0
    return KeywordMap(rows, idf)


def _following_views(evs: Sequence, i: int, n: int) -> list[str]:
    out = []
    for _, typ, _, cat in evs[i + 1:]:
        if typ == "search" or len(out) >= n:
            break
        if cat:
            out.append(cat)
    return out


def _counts(xs: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in xs:
        out[x] = out.get(x, 0) + 1
    return out


def evaluate(kmap: KeywordMap, events: Iterable[tuple[str, int, str, str | None, str | None]],
             follow_views: int = 5) -> dict[str, float]:
    """How well ``kmap`` predicts what a search is for, on events of the :func:`learn` shape:
    of the searches followed by a view, the share with any known token (``coverage``) and the
    share whose best intent category is among the categories viewed next (``hit_rate``)."""
    sessions: dict[str, list] = defaultdict(list)
    for sid, ts, typ, query, cat in events:
        if typ == "search" or typ == "view":
            sessions[sid].append((int(ts), typ, query, cat))
    n = covered = hits = 0
    for evs in sessions.values():
        evs.sort(key=lambda e: e[0])
        for i, (_, typ, query, _) in enumerate(evs):
            if typ != "search":
                continue
            after = _following_views(evs, i, follow_views)
            if not after:
                continue
            n += 1
            intent = kmap.intent(query)
            if intent:
                covered += 1
                hits += intent[0][0] in after
    return {"searches": n, "coverage": covered / n if n else 0.0, "hit_rate": hits / n if n else 0.0}
