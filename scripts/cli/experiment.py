"""``adstream experiment report NAME``: what an A/B experiment's variants earned, and whether it is decided.

Thin: it finds the experiment in ``scoring_job.experiments_file``, reads the training log (and,
with ``--served-log``, the served-log topic for the request counts), hands them to
``models/experiment_report.py`` (the figures; the statistics are in
``models/experiment_stats.py``) and prints a summary. The served log is read here, from the
beginning of the topic to its end offsets at the start of the read, with a plain consumer that
commits nothing (a report must not move anyone's position).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from udfs import config
from udfs.config import Config
from udfs.config.experiments import epoch_ms
from udfs.errors import AdstreamError, ConfigError, MessageError

_EPILOG = """\
examples:
  adstream experiment report reserve-2026-12
  adstream experiment report reserve-2026-12 --served-log --out /tmp/reserve
  adstream experiment report reserve-2026-12 --as-of 2026-12-05T00:00:00Z   # as a look then saw it
Settings: experiment_report.alpha, planned_users, min_users, peeks, primary_metric, srm_p
(conf/base.yaml). Reading the output: docs/experiments.md, "Reading an experiment"."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("experiment", help="report on an A/B experiment: per-variant figures, lifts, verdict",
                       description="A/B experiments of the scoring job (conf/experiments.yaml).")
    es = p.add_subparsers(dest="experiment_cmd", metavar="ACTION", required=True)
    r = es.add_parser(
        "report", help="per-variant users, requests, impressions, clicks, revenue; lifts; always-valid verdict",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_EPILOG,
        description="Reads the training log's impressions labelled with the experiment's variants within\n"
                    "its [start, stop) window; counts per variant users, requests, impressions, clicks,\n"
                    "conversions and revenue with intervals over users; compares each variant with the\n"
                    "first (the control); checks the sample ratio against the configured shares; and\n"
                    "decides with an always-valid test, safe to rerun as often as you like. Writes\n"
                    "report.json and report.html into --out and prints a summary.")
    r.add_argument("name", metavar="NAME", help="the experiment's name in scoring_job.experiments_file")
    r.add_argument("--training-log", metavar="URI",
                   help="the training log store to read, a path or URI (default: feedback.training_log)")
    r.add_argument("--served-log", action="store_true",
                   help="count requests from the served-log topic (needs Kafka at kafka.bootstrap); "
                        "without it a request is a distinct request id with an impression")
    r.add_argument("--out", metavar="DIR",
                   help="folder for report.json and report.html (default: <paths.work_dir>/experiments/NAME)")
    r.add_argument("--alpha", type=float,
                   help="error rate of the verdict; intervals are at 1 - alpha (default: experiment_report.alpha, 0.05)")
    r.add_argument("--as-of", metavar="TIME",
                   help="only rows before this ISO-8601 time with its offset, e.g. 2026-12-05T00:00:00Z: "
                        "the report as a look at that time saw it (default: the whole window)")
    r.set_defaults(func=_main)


def _as_of(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return epoch_ms(text)
    except ValueError as e:
        raise AdstreamError(f"--as-of: {e}") from None


def _experiment(cfg: Config, name: str):
    path = cfg.scoring_job.experiments_file
    if not path:
        raise AdstreamError("scoring_job.experiments_file is empty: no experiments are defined "
                            "(point it at a file such as conf/experiments.yaml)")
    exps = config.load_experiments(path)
    try:
        return exps.get(name)
    except ConfigError:
        have = ", ".join(e.name for e in exps.experiments) or "none"
        raise AdstreamError(f"no experiment {name!r} in {path}; the file defines: {have}") from None


def read_served(cfg: Config, labels: set[str], idle_s: float = 30.0) -> list:
    """The served-log records with one of ``labels``, from the topic's beginning to its end."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import NoBrokersAvailable

    from models.experiment_data import ServedRequest
    from udfs.messages import ServedLog
    name = cfg.kafka.topics.served_log.name
    try:
        consumer = KafkaConsumer(bootstrap_servers=cfg.kafka.bootstrap, enable_auto_commit=False,
                                 group_id=None, client_id="adstream-experiment-report")
    except NoBrokersAvailable:
        raise AdstreamError(f"no Kafka broker answers at {cfg.kafka.bootstrap} (start one: adstream stack "
                            f"up), or leave out --served-log to count requests from the training log") from None
    try:
        parts = consumer.partitions_for_topic(name)
        if not parts:
            raise AdstreamError(f"topic {name} does not exist at {cfg.kafka.bootstrap} (has the scoring job run?)")
        tps = [TopicPartition(name, p) for p in sorted(parts)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        out, seen, bad = [], 0, 0
        last, note = time.monotonic(), time.monotonic()
        while any(consumer.position(tp) < end[tp] for tp in tps):
            for recs in consumer.poll(timeout_ms=500, max_records=5000).values():
                last = time.monotonic()
                for rec in recs:
                    seen += 1
                    try:
                        m = ServedLog.decode(rec.value or b"")
                    except MessageError:
                        bad += 1
                        continue
                    if m.variant in labels:
                        out.append(ServedRequest(m.user_id, m.request_id, m.ts, m.variant))
            if time.monotonic() - note >= 5:
                print(f"served log: {seen} records read, {len(out)} in the experiment", file=sys.stderr)
                note = time.monotonic()
            if time.monotonic() - last > idle_s:
                raise AdstreamError(f"{name}: no records for {idle_s:.0f} s before its end offsets")
        print(f"served log: {seen} records, {len(out)} in the experiment"
              + (f", {bad} not valid served-log records (skipped)" if bad else ""), file=sys.stderr)
        return out
    finally:
        consumer.close()


def _main(cfg: Config, a) -> int:
    from models import experiment_report
    from udfs.io.training_log_store import read

    if a.alpha is not None and not 0 < a.alpha < 0.5:
        raise AdstreamError(f"--alpha {a.alpha}: must be in (0, 0.5), e.g. 0.05")
    exp = _experiment(cfg, a.name)
    as_of = _as_of(a.as_of)
    uri = a.training_log or cfg.feedback.training_log_uri
    uri = uri if "://" in uri else Path(uri).resolve().as_uri()
    try:
        table = read(uri)
    except OSError as e:
        raise AdstreamError(f"training log store {uri}: {e} (check --training-log or feedback.training_log)") from None
    print(f"training log {uri}: {table.num_rows} impressions", file=sys.stderr)
    served = read_served(cfg, {exp.label(v.name) for v in exp.variants}) if a.served_log else None
    rep = experiment_report.build(table, exp, cfg.experiment_report, alpha=a.alpha, as_of_ms=as_of, served=served)
    out = Path(a.out) if a.out else cfg.path("work_dir") / "experiments" / exp.name
    js, page = experiment_report.write(rep, out)
    print("\n".join(experiment_report.summary(rep)))
    print(f"wrote {js} and {page}")
    return 0
