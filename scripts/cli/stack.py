"""``adstream stack up|down|status``: the local Kafka broker and Redis server."""
from __future__ import annotations

import argparse

from scripts.stack import control as stack


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stack", help="start, stop or inspect the local Kafka + Redis stack",
                       description="Control the local stack: a single-node KRaft Kafka broker and "
                                   "a Redis server on the loopback ports from config. 'up' is "
                                   "idempotent and creates the configured topics; 'down' stops "
                                   "only the processes 'up' started (by pid).")
    p.add_argument("action", choices=["up", "down", "status", "topics"],
                   help="up | down | status (processes) | topics (message count per topic)")
    p.set_defaults(func=run)


def run(cfg, args) -> int:
    if args.action == "up":
        for line in stack.up(cfg):
            print(line)
    elif args.action == "down":
        for line in stack.down(cfg):
            print(line)
    elif args.action == "topics":
        counts = stack.topic_counts(cfg)
        print(f"{'topic':24} {'messages':>10}")
        for name, n in counts.items():
            print(f"{name:24} {n:>10}")
    else:
        rows = stack.status(cfg)
        print(f"{'service':8} {'address':22} {'pid':>8}  {'ours':5} answers")
        for s in rows:
            print(f"{s.name:8} {s.address:22} {s.pid or '-':>8}  {str(s.alive):5} {s.answers}")
        return 0 if all(s.alive and s.answers for s in rows) else 1
    return 0
