"""Several ad requests scored together, each answered exactly as ``RequestScorer.handle`` one by
one, in the batch's order, would answer it.

Batching pays the scoring step's per-call costs once per batch instead of once per request:
one profile round trip for the batch's users (the source's ``read_many``: one pipeline of
HMGETs) and one model call per model over all the batch's candidate rows. The stages:

1. decode each request (a malformed one gets ``handle``'s dead letter and answer, and leaves),
   then its variant and consent;
2. one profile read for the users of every personal request (a source without ``read_many``
   is read user by user, as one by one);
3. each request's expiry and eligible creatives (targeting, schedule, budget, pacing);
4. each request's eligible creatives featurized, then one ``score`` per model over all rows;
5. request by request, in the batch's order: caps filter, auction, caps record, answer.

Caps keep their order: step 5 runs a request's caps filter after every earlier request's
record, so a user's second request in the batch sees what the first one was served, as one by
one. That is why step 4 scores the creatives *before* caps (a capped creative's row is scored
and not used): a model's output for a row does not depend on the other rows of the call
(``tests/unit/test_model_select.py`` checks it of every shipped kind through the ONNX
scorer), so the kept rows' pCTRs are those a call over the kept rows alone gives, bit for bit.

A failure stays with its request: an exception in one request's stage gives it ``handle``'s
internal-error answer and dead letter, and it takes no further part; a featurization that
raises, or a model call that raises or returns the wrong number of scores, makes each request
concerned score alone in step 5, where a failure is its own again (model_error), as one by one.

What a batch does differently (docs/scoring-job.md, "Batching across requests"): every
profile and stored impression of the batch is read at its start (at most the batch's duration
older than one by one would read it); a failed batch read is one failure for the breaker (one
read failed), shared by all its requests, where one by one every request's read would have
failed and counted (the breaker opens after ``breaker_failures`` failed reads either way).

Timings per request: its own stages (decode, eligible, caps, featurize, auction) are its own;
the shared ones are divided — the profile read equally among the requests it was read for,
each model call in proportion to rows — and ``total`` is the sum of the request's stages, so
the totals of a batch add up to the batch's time (not each request's time since it began).
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field

import numpy as np

from udfs.core.featurize import has_profile
from udfs.core.scoring import Outcome, Ranking, RequestScorer, _probabilities
from udfs.core.scoring_env import ANONYMOUS, PROFILE_ERROR, UNKNOWN_USER, Deps, Model, read_failure
from udfs.messages import AdRequest


@dataclass
class _Item:
    """One decoded request of the batch and what the shared stages computed for it."""
    i: int                               # its place in the batch (and in the answers)
    raw: bytes | str
    c: Ranking
    eligible: list = field(default_factory=list)
    paced: int = 0
    model: Model | None = None           # the model its rows were scored with in the batch
    rows: np.ndarray | None = None       # catalogue rows of ``eligible``
    X: np.ndarray | None = None          # their model inputs
    scores: np.ndarray | None = None     # the model's output for them; None: score alone


def handle_batch(scorer: RequestScorer, raws: list, deps: Deps) -> list[Outcome]:
    outs: list[Outcome | None] = [None] * len(raws)
    items = _decoded(scorer, raws, deps, outs)
    _each(scorer, items, outs, lambda its: _read_profiles(scorer, its, deps), together=True)
    _each(scorer, items, outs, lambda it: _eligible(scorer, it, deps))
    _score(scorer, [it for it in items if outs[it.i] is None], deps)

    def answer(it: _Item) -> None:
        outs[it.i] = _answer(scorer, it, deps)
    _each(scorer, items, outs, answer)
    return outs


def _each(scorer: RequestScorer, items: list, outs: list, fn, together: bool = False) -> None:
    """``fn`` on each request still in the batch (``together``: once, on the list of them); a
    request whose stage raises is answered as ``handle`` answers a ranking that raised, and
    leaves the batch (``together``: all of them — the profile read catches its own failures,
    so only a bug gets here)."""
    live = [it for it in items if outs[it.i] is None]
    for arg in ([live] if together else live):
        try:
            fn(arg)
        except Exception as e:   # a bug must cost the rankings it concerns, never an answer
            for it in (arg if together else [arg]):
                outs[it.i] = scorer._internal(it.raw, it.c.req, e, it.c.t0)


def _decoded(scorer: RequestScorer, raws: list, deps: Deps, outs: list) -> list[_Item]:
    items = []
    for i, raw in enumerate(raws):
        req, t0, timings = scorer.decode(raw)
        if not isinstance(req, AdRequest):
            outs[i] = req   # the answer to a request that did not decode
            continue
        try:
            items.append(_Item(i, raw, scorer.begin(req, deps, t0, timings)))
        except Exception as e:
            outs[i] = scorer._internal(raw, req, e, t0)
    return items


def _read_profiles(scorer: RequestScorer, items: list[_Item], deps: Deps) -> None:
    """One read for the users of every personal request; a failed read is each one's fallback,
    with the reason a single failed read gives. A source without ``read_many`` is read user by
    user, all before the first answer: what it keeps of a read must then hold every user of the
    batch (the direct reader's ``seen_of`` does only with ``read_many``, which it has)."""
    source = deps.profiles
    many = getattr(source, "read_many", None)
    personal = [it for it in items if it.c.personal]
    if many is None:
        for it in personal:
            it.c.profile = scorer._profile(it.c.req.user_id, source, it.c.reasons, it.c.timings)
        return
    named = []
    for it in personal:
        if it.c.req.user_id:
            named.append(it)
        else:
            it.c.reasons.append(ANONYMOUS)
    if not named:
        return
    users = list(dict.fromkeys(it.c.req.user_id for it in named))   # a user's requests share one read
    kind, got = None, {}
    t = scorer.clock()
    try:
        rows = many(users)
        if len(rows) != len(users):
            raise ValueError(f"{len(rows)} profiles read for {len(users)} users")
        got = dict(zip(users, rows))
    except Exception as e:
        kind = read_failure(e)
    share = (scorer.clock() - t) * 1000.0 / len(named)
    for it in named:
        it.c.timings["features"] = share
        if kind is not None:
            it.c.reasons.append(kind)
            continue
        try:   # what ``RequestScorer._profile`` makes of one read's result, failure included
            profile = got[it.c.req.user_id]
            if not has_profile(profile):
                it.c.reasons.append(UNKNOWN_USER)
            it.c.profile = profile
        except Exception:
            it.c.reasons.append(PROFILE_ERROR)


def _eligible(scorer: RequestScorer, it: _Item, deps: Deps) -> None:
    scorer.expire(it.c)
    it.eligible, it.paced = scorer.eligible(it.c.req, it.c.profile, deps, it.c.arm, it.c.timings)


def _score(scorer: RequestScorer, items: list[_Item], deps: Deps) -> None:
    """Each request's eligible rows, then one model call per model over all of them. Nothing
    here fails a request: whatever raises leaves it to score alone in step 5."""
    groups: dict[int, tuple[Model, list[_Item]]] = {}
    for it in items:
        t = scorer.clock()
        try:
            model = scorer.model_of(it.c.arm, deps)
            if model is None or not it.eligible:
                continue
            it.rows, it.X = scorer.features(it.c.req, it.eligible, it.c.profile, deps)
        except Exception:   # scored alone in step 5, where it fails as it would one by one
            continue
        it.c.timings["featurize"] = (scorer.clock() - t) * 1000.0
        it.model = model
        groups.setdefault(id(model), (model, []))[1].append(it)
    for model, group in groups.values():
        t = scorer.clock()
        try:
            X = group[0].X if len(group) == 1 else np.concatenate([it.X for it in group])
            scores = np.asarray(model.score(X))
            if scores.shape[:1] != (len(X),):
                raise ValueError(f"{scores.shape} scores for {len(X)} rows")
        except Exception:   # each scores alone in step 5: a failure is then its own, as one by one
            continue
        per_row = (scorer.clock() - t) * 1000.0 / len(X)
        at = 0
        for it in group:
            n = len(it.X)
            it.scores, at = scores[at:at + n], at + n
            it.c.timings["model"] = per_row * n


def _answer(scorer: RequestScorer, it: _Item, deps: Deps) -> Outcome:
    c = it.c
    t = scorer.clock()
    kept, capped = deps.caps.filter(c.user, it.eligible, c.req.ts)   # after the earlier requests' records
    c.timings["caps"] = (scorer.clock() - t) * 1000.0
    result = scorer._auction(c.req, kept, c.profile, deps, c.reasons, c.timings, c.arm,
                             scored=lambda *a: _scored(scorer, it, *a))
    return scorer.finish(c, deps, kept, capped, it.paced, result, summed=True)


def _scored(scorer: RequestScorer, it: _Item, req, kept, profile, deps, model, timings):
    """``RequestScorer.score`` of ``kept`` from the batch's call: the kept rows of the request's
    eligible ones; scored alone when the batch's call did not score them with this model."""
    idx = _positions(it.eligible, kept) if it.scores is not None and model is it.model else None
    if idx is None:
        return scorer.score(req, kept, profile, deps, model, timings)
    t = scorer.clock()
    if len(idx) == len(it.eligible):   # nothing capped: the rows as they are
        rows, X, scores = it.rows, it.X, it.scores
    else:
        rows, X, scores = it.rows[idx], it.X[idx], it.scores[idx]
    pctr = _probabilities(scores)
    timings["model"] = timings.get("model", 0.0) + (scorer.clock() - t) * 1000.0
    return rows, X, pctr


def _positions(eligible: list, kept: list) -> np.ndarray | None:
    """Where each of ``kept`` stands in ``eligible`` (caps keep the order and the objects), or
    None when ``kept`` is not such a subsequence (a caps view that made new objects)."""
    if len(kept) == len(eligible) and all(map(operator.is_, kept, eligible)):
        return np.arange(len(kept))
    idx, j, n = [], 0, len(kept)
    for i, cr in enumerate(eligible):
        if j < n and kept[j] is cr:
            idx.append(i)
            j += 1
    return np.asarray(idx, dtype=np.int64) if j == n else None
