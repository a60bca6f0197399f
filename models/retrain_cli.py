"""``adstream model retrain``: the command line of models/retrain.py, and its ``--every`` loop.

Kept out of models/cli.py (train, evaluate, export, promote, rollback, list) because the loop,
the window options and the per-run folders are this command's alone.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from models.retrain_window import parse_duration, parse_instant, window
from udfs.errors import ModelError

_EPILOG = """\
examples:
  adstream model retrain --since 6h                    # the last six hours of the training log
  adstream model retrain --since 2d --until 1h --dry-run
  adstream model retrain --since 2026-12-01T00:00Z --until 2026-12-02T00:00Z
  adstream model retrain --since 24h --every 6h        # every six hours over the last day; Ctrl-C stops
Each run writes OUT/<UTC time>/retrain.json (status skipped, promoted, refused or dry-run; the rows,
clicks, window, candidate and current model on the same holdout, decision and reason) and the
candidate's training folder OUT/<UTC time>/candidate/ (docs/model.md, "Retraining")."""


def _duration(text: str) -> str:
    try:
        parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def _instant(text: str) -> str:
    try:
        parse_instant(text, 0)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def add_parser(ms: argparse._SubParsersAction) -> None:
    r = ms.add_parser(
        "retrain", help="retrain on the training log; promote only if better on the newest rows",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_EPILOG,
        description="Read the feedback job's training log (feedback.training_log) for impressions in "
                    "[--since, --until), keep the rows scored with the current model's feature order, "
                    "train on those exact rows with the usual pipeline (time split, newest block held "
                    "out, candidates and calibration as configured), then register the candidate and "
                    "promote it only if its log loss on the held-out newest rows is lower than the "
                    "current model's on the same rows (its ONNX, as served) and its AUC is not lower "
                    "by more than model.promote_auc_tolerance. Too few rows or clicks "
                    "(model.retrain_min_rows, model.retrain_min_clicks): skipped, exit code 0.")
    r.add_argument("--since", required=True, type=_instant, metavar="WHEN",
                   help="window start: a duration before now (30m, 6h, 2d) or an ISO-8601 time (UTC)")
    r.add_argument("--until", type=_instant, metavar="WHEN", help="window end, exclusive (default: now)")
    r.add_argument("--now", type=_instant, metavar="TIME",
                   help="count durations back from this time (ISO-8601, or a duration before the clock) "
                        "instead of the clock: a log whose event time is not wall time, e.g. a replayed world")
    r.add_argument("--every", type=_duration, metavar="DURATION",
                   help="run again every DURATION (the window moves with the clock); Ctrl-C stops")
    r.add_argument("--dry-run", action="store_true",
                   help="train and compare, but register and promote nothing")
    r.add_argument("--out", metavar="DIR", help="folder for the runs (default paths.retrain_runs)")
    r.add_argument("--seed", type=int, help="training seed (default model.seed)")
    r.add_argument("--budget", type=int, help="search trials (default model.budget)")
    r.add_argument("--progress", action="store_true", help="progress bars of the training on stderr")
    r.set_defaults(func=_retrain)


def _now_ms(args) -> int:
    clock = int(time.time() * 1000)
    return parse_instant(args.now, clock) if args.now else clock


def _once(cfg, args) -> dict:
    from models.retrain import run_retrain

    try:
        win = window(args.since, args.until, _now_ms(args))
    except ValueError as e:
        raise ModelError(str(e)) from None
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = Path(args.out or cfg.path("retrain_runs")) / stamp
    rep = run_retrain(cfg, win, out, dry_run=args.dry_run, seed=args.seed, budget=args.budget,
                      progress=args.progress, log=lambda s: print(s, file=sys.stderr, flush=True))
    _summary(rep)
    return rep


def _summary(rep: dict) -> None:
    h = rep.get("holdout") or {}
    if "candidate" in h:
        c, k = h["candidate"], h["current"]
        d = h["candidate_minus_current"]["logloss"]
        print(f"holdout {h['rows']:,} rows ({h['clicks']} clicks, {h['from']} .. {h['to']}): "
              f"candidate AUC {c['auc']:.4f} log loss {c['logloss']:.5f}; current {rep['current']} "
              f"AUC {k['auc']:.4f} log loss {k['logloss']:.5f}; log loss diff {d['diff']:+.5f} "
              f"(95% CI {d['low']:+.5f}..{d['high']:+.5f})")
    version = (rep.get("candidate") or {}).get("registry_version")
    print(json.dumps({"status": rep["status"], "decision": rep["decision"], "version": version,
                      "reason": rep["reason"]}))


def _retrain(cfg, args) -> int:
    if args.every is None:
        _once(cfg, args)
        return 0
    pause = parse_duration(args.every) / 1000
    runs = 0
    try:
        while True:
            runs += 1
            print(f"run {runs} at {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%SZ}", file=sys.stderr, flush=True)
            try:
                _once(cfg, args)
            except ModelError as e:   # one bad run (an unreadable file, too few distinct times) is reported
                print(json.dumps({"status": "error", "reason": str(e)}))
            print(f"next run in {args.every} (Ctrl-C stops)", file=sys.stderr, flush=True)
            time.sleep(pause)
    except KeyboardInterrupt:
        print(f"stopped after {runs} run(s)", file=sys.stderr)
    return 0
