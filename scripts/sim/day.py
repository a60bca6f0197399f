"""The simulated day end to end: the world, the first model, the two runs, the report.

``simulate_day`` draws the world (``scripts.sim.world``), trains the first model on its logged
days (``scripts.sim.retrain``), then runs the day twice on the same requests: the full loop
(live statistics every ``simulation.stats_poll_s``, budgets and pacing, exploration at
``simulation.explore_rate``, retraining every ``simulation.retrain_every_h``) and frozen (the
first model, no exploration, no retraining, the statistics of the logged days all day: no
budget stop, no pacing). Everything a run writes goes under one work folder.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Callable

from scripts.sim import plots, report, world as day_world
from scripts.sim.retrain import Retrainer, first_model, sim_config
from scripts.sim.run import Run
from scripts.sim.server import Server
from udfs.errors import AdstreamError
from udfs.io.onnx_scorer import OnnxScorer


def simulate_day(cfg, *, seed: int, users: int, requests_per_hour: int, hours: int,
                 work_dir: Path | None = None, plots_dir: Path | None = None,
                 log: Callable[[str], None] = lambda s: None) -> dict:
    """Both runs of one day; returns the report (``scripts.sim.report``)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="adstream-day-") as tmp:
        folder = Path(work_dir) if work_dir is not None else Path(tmp)
        used = [n for n in ("registry", "training_log", "world") if (folder / n).exists()]
        if used:   # an earlier day's models and training rows would mix into this one's
            raise AdstreamError(f"{folder} holds an earlier simulation ({', '.join(used)}): "
                                f"give --work-dir a new or empty folder")
        folder.mkdir(parents=True, exist_ok=True)
        cfg = sim_config(cfg, folder)
        log(f"drawing the world (seed {seed}) ...")
        w = day_world.build(cfg, seed, users, requests_per_hour, hours, folder / "world", log)
        t1 = time.perf_counter()
        log(f"training the first model on {len(w.history.X):,} logged impressions of the days before ...")
        model_dir, rep = first_model(cfg, w.history, folder, seed)
        log(f"first model: {rep['model']['kind']}, AUC {rep['auc']:.4f} on its holdout "
            f"({rep['model']['train_seconds']:.0f} s)")
        t2 = time.perf_counter()
        runs = {}
        for name in ("loop", "frozen"):
            clock = _Clock(w.start_ms)
            make = Server.loop if name == "loop" else Server.frozen
            server = make(cfg, w.catalog_file, OnnxScorer(model_dir), clock)
            retrain = Retrainer(cfg, folder, w.start_ms, seed, log) if name == "loop" else None
            run = Run(cfg, w, server, retrain=retrain, log=log)
            clock.run = run
            runs[name] = run.go()
            if name == "loop":
                budgets = {c.campaign_id: c.daily_budget for c in server.catalog.campaigns() if c.status == "active"}
        out = report.report(w, cfg, runs["loop"], runs["frozen"], budgets, seed)
        out["settings"] = _settings(cfg, users, requests_per_hour, hours)
        out["first_model"] = {"kind": rep["model"]["kind"], "auc": rep["auc"], "rows": len(w.history.X)}
        out["seconds"] = {"world": round(t1 - t0, 1), "first_model": round(t2 - t1, 1),
                          "loop": round(runs["loop"].seconds, 1), "frozen": round(runs["frozen"].seconds, 1),
                          "total": round(time.perf_counter() - t0, 1)}
        if plots_dir is not None:
            out["plots"] = [str(p) for p in plots.write(out, Path(plots_dir))]
        return out


class _Clock:
    """The scorer's wall clock: the run's simulated now."""

    def __init__(self, start_ms: int):
        self.start_ms, self.run = start_ms, None

    def __call__(self) -> int:
        return self.run.now if self.run is not None else self.start_ms


def _settings(cfg, users: int, requests_per_hour: int, hours: int) -> dict:
    import dataclasses
    return {**dataclasses.asdict(cfg.simulation), "users": users, "requests_per_hour": requests_per_hour,
            "hours": hours}
