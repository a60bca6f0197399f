"""``adstream``: one command-line tool, subcommands in the style of ``feast``/``flink``.

Each subcommand lives in its own module exposing ``register(subparsers)``; the
module sets ``func(cfg, args) -> int`` on its parser. Global options choose the
configuration: ``--env``, ``--conf FILE`` (repeatable), ``--set a.b=c`` (repeatable).
"""
from __future__ import annotations

import argparse
import importlib
import sys

from udfs import config
from udfs.errors import AdstreamError

# Order is the order shown in --help.
COMMANDS = (
    "scripts.cli.stack",
    "scripts.cli.features",
    "jobs.cli",
    "scripts.cli.flink",
    "scripts.cli.generate",
    "scripts.cli.replay",
    "scripts.cli.site",
    "scripts.cli.training_log",
    "scripts.cli.experiment",
    "scripts.cli.privacy",
    "scripts.cli.simulate",
    "scripts.cli.users",
    "scripts.cli.interests",
    "models.cli",
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="adstream",
        description="adstream: real-time personalised ad serving on Kafka, PyFlink, Feast and ONNX.",
        epilog="Configuration: conf/base.yaml + conf/<env>.yaml + --conf files + --set overrides. "
               "Run 'adstream COMMAND --help' for a command's options.")
    p.add_argument("--env", default=None,
                   help="config overlay conf/ENV.yaml (default: $ADSTREAM_ENV or 'local')")
    p.add_argument("--conf", action="append", default=[], metavar="FILE",
                   help="extra YAML overlay, merged in order (repeatable)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="override one key, e.g. --set kafka.port=19092 (repeatable)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        cfg = config.load(args.env, args.conf, args.overrides)
        return int(args.func(cfg, args) or 0)
    except AdstreamError as e:
        print(f"adstream: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("adstream: interrupted", file=sys.stderr)
        return 130

