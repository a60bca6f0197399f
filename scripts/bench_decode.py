"""Decoding the wire formats: today's msgspec decoder against the hand-written one it replaced (issue #12).

For every format in ``udfs.messages.ENVELOPED`` the previous decoder also had (``decode_previous.compared``: a format
added since, such as ``served_log``, has nothing to compare with), a corpus of valid records and one of invalid
records (one class of fault each, ``scripts/bench/decode_corpus.py``) are decoded by:
``today`` (``cls.decode``: what the jobs call; msgspec, then the project's rules),
``previous`` (the hand-written decoder as it was at ``scripts/bench/decode_previous.py``'s
``REV``, read from git history, its compiled fast path included), ``msgspec_bare``
(msgspec alone on today's classes: what the rules after it cost, and what they catch)
and ``json_loads`` (plain ``json.loads`` of the same bytes, the floor). Candidates are
interleaved record pass by record pass (A B C … then rotated), per record timed; figures
are medians and p99 in µs per record, ratios paired per round against ``previous``.

Then equivalence: every corpus record, and inputs drawn from the property tests'
strategies, through the previous decoder and each candidate, disagreements counted by
class (``scripts/bench/decode_equiv.py``); error texts side by side; and the profile job's
``profile_batch.process`` over a batch of clickstream lines with each decoder swapped in.
No services are started: decoding needs none.

    .venv/bin/python scripts/bench_decode.py --duration 3 --out .work/bench/bench_decode.json
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from unittest import mock

import msgspec
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.bench import common as benchlib  # noqa: E402
from scripts.bench import decode_corpus as C  # noqa: E402
from scripts.bench import decode_equiv as E  # noqa: E402
from scripts.bench import decode_previous as PREV  # noqa: E402
from udfs import messages as M  # noqa: E402
from udfs.errors import MessageError  # noqa: E402
from udfs.messages.bounds import TimeBounds  # noqa: E402
from udfs.messages.wire_errors import translate  # noqa: E402

EPILOG = """\
JSON keys: formats.<schema>.{valid,invalid}.<candidate>.{median_us,p99_us,round_median_min_us,
round_median_max_us,rounds,samples,ratio_to_previous}; formats.<schema>.invalid_by_fault.<candidate>.<fault>
(median µs); equivalence.<candidate>.{inputs,agree,disagree,classes,both_reject_same_field,...};
errors_side_by_side; profile_process.{per_event_us,ratio_to_previous,decode_share_us}.<candidate>;
previous_rev; traps; versions; load_avg; cpu_probe_ms.
"""


@dataclass
class Cand:
    """One decoder: ``decode(raw, bounds, now_ms)`` and its value as JSON types."""
    decode: Callable
    plain: Callable = lambda obj: obj
    equivalence: bool = True


def candidates(cls: type) -> dict[str, Cand]:
    old = PREV.counterpart(cls)

    def today(raw, bounds, now_ms):
        return cls.decode(raw, bounds=bounds, now_ms=now_ms)

    def previous(raw, bounds, now_ms):
        return old.decode(raw, bounds=bounds, now_ms=now_ms)
    plain = lambda m: m.to_dict()  # noqa: E731
    return {"json_loads": Cand(lambda raw, b, n: json.loads(raw), equivalence=False),
            "today": Cand(today, plain), "previous": Cand(previous, plain),
            "msgspec_bare": Cand(_bare(cls), msgspec.to_builtins)}


def _bare(cls: type) -> Callable:
    """msgspec alone on today's class: its errors worded as today's (``translate``), nothing
    else caught or checked, so what the rules after it add shows in time and in the equivalence."""
    dec = msgspec.json.Decoder(cls)

    def decode(raw, bounds, now_ms):
        try:
            return dec.decode(raw)
        except msgspec.ValidationError as e:
            raise translate(cls, e, raw=raw) from None
        except msgspec.DecodeError as e:
            raise MessageError(cls.SCHEMA, "<payload>", f"not JSON ({e})") from None
    return decode


# ------------------------------------------------------------------ timing

def _one_pass(decode, records, bounds, now_ms) -> list[int]:
    clock = time.perf_counter_ns
    out = []
    for raw in records:
        t0 = clock()
        try:
            decode(raw, bounds, now_ms)
        except Exception:  # noqa: BLE001, S110 - invalid records raise; only the time matters here
            pass
        out.append(clock() - t0)
    return out


def time_phase(records: list, cands: dict[str, Cand], duration: float, bounds, now_ms) -> dict:
    """Per-record ns of every candidate: rounds of one pass each, order rotated per round,
    until ``duration`` has passed (two rounds at least)."""
    names = list(cands)
    passes: dict[str, list[list[int]]] = {n: [] for n in names}
    gc.collect()
    end, r = time.perf_counter() + duration, 0
    while r < 2 or time.perf_counter() < end:
        for name in names[r % len(names):] + names[:r % len(names)]:
            passes[name].append(_one_pass(cands[name].decode, records, bounds, now_ms))
        r += 1
    return {n: np.asarray(p, dtype=np.int64) for n, p in passes.items()}


def summary(ns: np.ndarray) -> dict:
    """(rounds × records) ns → µs per record: pooled median and p99, and the spread of the
    per-round medians (how much the box moved during the phase)."""
    us = ns / 1000.0
    per_round = np.median(us, axis=1)
    return {"median_us": round(float(np.median(us)), 3), "p99_us": round(float(np.percentile(us, 99)), 3),
            "round_median_min_us": round(float(per_round.min()), 3),
            "round_median_max_us": round(float(per_round.max()), 3),
            "rounds": int(us.shape[0]), "samples": int(us.size)}


def paired(per_round: dict[str, np.ndarray], base: str) -> dict[str, float]:
    """Median over rounds of each candidate's round figure divided by ``base``'s in the same
    round: candidates run back to back within a round, so a load swing of the shared box
    between rounds cancels out of the ratio."""
    ref = np.asarray(per_round[base], dtype=float)
    return {k: round(float(np.median(np.asarray(v, dtype=float) / ref)), 3) for k, v in per_round.items()}


def by_fault(ns: np.ndarray, faults: list[str]) -> dict[str, float]:
    cols = {}
    for i, f in enumerate(faults):
        cols.setdefault(f, []).append(i)
    return {f: round(float(np.median(ns[:, idx])) / 1000.0, 3) for f, idx in cols.items()}


# ------------------------------------------------------------------ the profile job's step

def profile_cost(valid: list, invalid: list, batch: int, duration: float, bounds, now_ms, cfg) -> dict:
    """``profile_batch.process`` per event with each decoder: ``ClickEvent`` in the module is
    swapped for a shim whose ``decode`` is the candidate's (process only calls ``decode``,
    and the fold reads attributes every candidate's object has). ``no_decode`` hands out
    events decoded beforehand: the rest of process() alone."""
    from udfs.core import profile as P
    from udfs.core import profile_batch as B
    rng = random.Random(1)
    bad = [raw.decode("utf-8", "replace") for _, raw in invalid if not raw.startswith(b"[" * 100)]
    n_bad = max(1, batch // 20)     # 5 % invalid, as a noisy producer might send
    lines = [_v1_line(m) for m in valid[:batch - n_bad]] + rng.sample(bad, min(n_bad, len(bad)))
    rng.shuffle(lines)
    lines = [B.ON_TIME_FLAG + ln for ln in lines]
    params = P.ProfileParams.from_config(cfg.profile.windows)
    cands = {k: c for k, c in candidates(M.ClickEvent).items() if k in ("today", "previous")}
    cands["no_decode"] = Cand(_predecoded(lines, bounds, now_ms))
    per_event: dict[str, list[float]] = {k: [] for k in cands}
    counts: dict[str, dict] = {}
    end, r = time.perf_counter() + duration, 0
    while r < 3 or time.perf_counter() < end:
        names = list(cands)
        for name in names[r % len(names):] + names[:r % len(names)]:
            shim = type("Shim", (), {"decode": staticmethod(_kw(cands[name].decode))})
            with mock.patch.object(B, "ClickEvent", shim):
                t0 = time.perf_counter_ns()
                res = B.process(lines, B.DictStore(), params, dedupe_horizon_ms=3_600_000, now_ms=now_ms,
                                source_topic="clicks.v1", stage="profile.apply.v1", bounds=bounds)
                per_event[name].append((time.perf_counter_ns() - t0) / 1000.0 / len(lines))
            counts[name] = dict(res.counts)
        r += 1
    return {"batch": len(lines), "invalid_in_batch": n_bad, "rounds": r,
            "per_event_us": {k: {"median": round(statistics.median(v), 3), "min": round(min(v), 3),
                                 "max": round(max(v), 3)} for k, v in per_event.items()},
            "ratio_to_previous": paired(per_event, "previous"),
            # per round, minus the same round's no_decode run: the decoder's share of process()
            "decode_share_us": {k: round(statistics.median(np.subtract(v, per_event["no_decode"])), 3)
                                for k, v in per_event.items()},
            "counts": counts["previous"], "counts_match": {k: c == counts["previous"] for k, c in counts.items()}}


def _v1_line(event) -> str:
    """An event as a v1 record (consent: true), the version both decoders read: the previous one
    knows no v2, and a v1 site's records are what the profile step still takes."""
    doc = {**event.to_dict(), "v": 1, "consent": True}
    return json.dumps(doc, separators=(",", ":"))


def _kw(decode):
    return lambda raw, bounds=None, now_ms=None: decode(raw, bounds, now_ms)


def _predecoded(lines: list[str], bounds, now_ms):
    done: dict[str, Any] = {}
    for ln in lines:
        try:
            done[ln[1:]] = M.ClickEvent.decode(ln[1:], bounds=bounds, now_ms=now_ms)
        except MessageError as e:
            done[ln[1:]] = e

    def decode(raw, b, n):
        v = done[raw]
        if isinstance(v, Exception):
            raise v
        return v
    return decode


# ------------------------------------------------------------------ equivalence

def equivalence(corpora: dict, fuzz: int, seed: int, bounds, now_ms, log) -> tuple[dict, list, int]:
    """Tallies per candidate against the previous decoder, over corpora (with the ts window) and
    fuzz inputs (without it: the strategies mutate the tests' examples, whose ts of 1..7 ms the
    window would refuse)."""
    tallies: dict[str, E.Tally] = {}
    rows: list[dict] = []
    fuzz_cut = 0
    for cls in PREV.compared(M.ENVELOPED):
        if cls not in PREV.unchanged(M.ENVELOPED):   # a new version since: its error texts only
            valid, invalid, _ = corpora[cls]
            rows += E.side_by_side(cls, invalid, {k: (c.decode, c.plain) for k, c in candidates(cls).items()
                                                  if k in ("previous", "today")}, bounds, now_ms)
            continue
        valid, invalid, edge = corpora[cls]
        inputs = ([("valid", raw, True, None) for raw in valid]
                  + [("invalid", raw, True, fault) for fault, raw in invalid]
                  + [("edge", raw, True, None) for _, raw in edge])
        if fuzz:
            drawn, cut = E.fuzz_inputs(cls, fuzz, seed)
            inputs += [("fuzz", raw, False, None) for raw in drawn]
            inputs += [("damaged", raw, True, None) for raw in C.damaged_records(valid, fuzz // 2, seed)]
            fuzz_cut += cut
        cands = {k: c for k, c in candidates(cls).items() if c.equivalence}
        ref = [E.outcome(cands["previous"].decode, cands["previous"].plain, raw, *_window(w, bounds, now_ms))
               for _, raw, w, _ in inputs]
        for name, c in cands.items():
            if name == "previous":
                continue
            t = tallies.setdefault(name, E.Tally())
            for (src, raw, w, fault), mine in zip(inputs, ref):
                theirs = E.outcome(c.decode, c.plain, raw, *_window(w, bounds, now_ms))
                t.add(cls.SCHEMA, src, raw, mine, theirs, fault)
        rows += E.side_by_side(cls, invalid, {k: (c.decode, c.plain) for k, c in cands.items()
                                              if k in ("previous", "today")}, bounds, now_ms)
        log(f"equivalence {cls.SCHEMA}: {len(inputs)} inputs")
    return {k: t.figures() for k, t in tallies.items()}, rows, fuzz_cut


def _window(with_bounds: bool, bounds, now_ms):
    return (bounds, now_ms) if with_bounds else (None, None)


# ------------------------------------------------------------------ main

def build_corpora(args, bounds, now_ms) -> tuple[dict, dict]:
    msgs = C.valid_messages(args.records, args.seed, now_ms, events=args.batch)
    out = {}
    for cls in PREV.compared(M.ENVELOPED):
        valid = [m.encode() for m in msgs[cls][:args.records]]
        for raw in valid:      # valid by today's rules and window, or the corpus is wrong: stop
            cls.decode(raw, bounds=bounds, now_ms=now_ms)
        out[cls] = (valid, C.invalid_records(cls, msgs[cls][:args.records], args.per_fault, now_ms, bounds,
                                             args.seed),
                    C.edge_records(cls, msgs[cls]))
    return out, msgs


def measure(corpora: dict, duration: float, bounds, now_ms, log) -> dict:
    out = {}
    total = 2 * len(PREV.compared(M.ENVELOPED))
    for i, cls in enumerate(PREV.compared(M.ENVELOPED)):
        valid, invalid, _ = corpora[cls]
        cands = candidates(cls)
        fig = {"records": {"valid": len(valid), "invalid": len(invalid)}}
        for j, (corpus, records) in enumerate((("valid", valid), ("invalid", [r for _, r in invalid]))):
            t0 = time.perf_counter()
            ns = time_phase(records, cands, duration, bounds, now_ms)
            fig[corpus] = {k: summary(v) for k, v in ns.items()}
            ratio = paired({k: np.median(v, axis=1) for k, v in ns.items()}, "previous")
            for k in ns:
                fig[corpus][k]["ratio_to_previous"] = ratio[k]
            if corpus == "invalid":
                fig["invalid_by_fault"] = {k: by_fault(v, [f for f, _ in invalid]) for k, v in ns.items()}
            log(f"[{2 * i + j + 1}/{total}] {cls.SCHEMA} {corpus}: {fig[corpus]['today']['rounds']} rounds "
                f"in {time.perf_counter() - t0:.1f} s, today {fig[corpus]['today']['median_us']} µs, "
                f"previous {fig[corpus]['previous']['median_us']} µs")
        out[cls.SCHEMA] = fig
    return out


def _versions() -> dict:
    return {"msgspec": msgspec.__version__, "python": sys.version.split()[0]}


def main(argv=None) -> int:
    p = benchlib.parser(__doc__.splitlines()[0], duration=2.0)
    p.description = __doc__.split("\n\n    .venv")[0]
    p.epilog = EPILOG
    # keep the description's paragraphs; still show the defaults
    p.formatter_class = type("Formatter", (argparse.RawDescriptionHelpFormatter,
                                           argparse.ArgumentDefaultsHelpFormatter), {})
    p.add_argument("--records", type=int, default=400, help="valid records per format (fewer if the world has fewer)")
    p.add_argument("--per-fault", type=int, default=12, help="invalid records per fault class per format")
    p.add_argument("--fuzz", type=int, default=600, help="inputs per format drawn from the property tests' strategies for the equivalence "
                        "check (and half as many byte-damaged valid records); 0: corpora only")
    p.add_argument("--batch", type=int, default=500, help="clickstream lines per profile_batch.process call")
    p.add_argument("--seed", type=int, default=7, help="seed of the synthetic world, the faults and the draws")
    p.add_argument("--previous", default=PREV.REV, help="git revision whose udfs/messages/ is the previous decoder")
    args = p.parse_args(argv)
    from udfs import config
    cfg = config.load(args.env)
    bounds = TimeBounds.from_config(cfg.messages)
    now_ms = cfg.generator.start_ts_ms + 2 * 86_400_000   # a day after the world's last event
    log = lambda msg: print(f"[bench_decode] {msg}", file=sys.stderr, flush=True)  # noqa: E731
    PREV.load(args.previous)
    load0, probe0 = os.getloadavg(), benchlib.cpu_probe()
    corpora, msgs = build_corpora(args, bounds, now_ms)
    formats = measure(corpora, args.duration, bounds, now_ms, log)
    equiv, rows, fuzz_cut = equivalence(corpora, args.fuzz, args.seed, bounds, now_ms, log)
    prof = profile_cost(msgs[M.ClickEvent], corpora[M.ClickEvent][1], args.batch, args.duration, bounds,
                        now_ms, cfg)
    log("profile_batch.process done")
    figures = {"duration_s": args.duration, "versions": _versions(), "load_avg": [load0, os.getloadavg()],
               "cpu_probe_ms": [probe0, benchlib.cpu_probe()], "bounds": vars(bounds), "now_ms": now_ms,
               "formats": formats, "equivalence": equiv, "fuzz_batches_cut_short": fuzz_cut, "errors_side_by_side": rows,
               "profile_process": prof, "previous_rev": args.previous, "traps": E.traps()}
    benchlib.report("Decoding: µs per record, median / p99 (today | previous | msgspec_bare | json_loads)",
                    _rows(figures), figures, args.out)
    return 0


def _rows(fig: dict) -> list[tuple[str, str]]:
    rows = []
    order = ("today", "previous", "msgspec_bare", "json_loads")
    for schema, f in fig["formats"].items():
        for corpus in ("valid", "invalid"):
            cells = " | ".join(f"{f[corpus][k]['median_us']:.2f}/{f[corpus][k]['p99_us']:.1f}" for k in order)
            rows.append((f"{schema} {corpus}", cells))
    for name, e in fig["equivalence"].items():
        rows.append((f"equivalence {name}", f"{e['disagree']} of {e['inputs']} disagree, "
                     f"{len(e['classes'])} classes; both reject, other field: {e['both_reject_other_field']}"))
    prof = fig["profile_process"]
    for name, v in prof["per_event_us"].items():
        rows.append((f"process() per event, {name}", f"{v['median']:.2f} µs (× {prof['ratio_to_previous'][name]} "
                     f"of previous, decoding {prof['decode_share_us'][name]:.2f} µs)"))
    return rows


if __name__ == "__main__":
    sys.exit(main())
