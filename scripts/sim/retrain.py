"""Models of the simulated day: the first one, and the loop's retraining on its own training log.

The first model is ``models.pipeline.run_train`` on the logged days (``load_synthetic``'s rows:
the live features as the scorer would have built them), registered and promoted in the run's
own registry. Retraining is ``models.retrain.run_retrain`` itself: the loop's training rows so
far are written to the run's training-log store (``udfs.io.training_log_store``, as
``adstream training-log write`` does), and the window from the day's start to now is retrained
and gated exactly as ``adstream model retrain`` does — promoted only with a lower log loss (and
an AUC not below) than the current model's on the newest rows. A promoted model is served from
the next request on (the scoring job's hot reload, without its poll delay).

Training is kept small (``simulation.train_budget`` trials, ``simulation.train_rounds`` rounds)
so that a day runs in minutes; both runs start from the same first model.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

from models.pipeline import run_train
from models.registry import Registry
from models.retrain import run_retrain
from models.retrain_window import Window
from udfs.io.onnx_scorer import OnnxScorer
from udfs.io.training_log_store import TrainingLogWriter


def sim_config(cfg, folder: Path):
    """``cfg`` with the simulation's own registry and training-log store, and its training budget."""
    s = cfg.simulation
    return dataclasses.replace(
        cfg, paths=dataclasses.replace(cfg.paths, model_registry=str(folder / "registry")),
        feedback=dataclasses.replace(cfg.feedback, training_log=str(folder / "training_log")),
        model=dataclasses.replace(cfg.model, budget=s.train_budget, max_rounds=s.train_rounds))


def _gates(cfg) -> dict:
    return {"windows_s": cfg.profile.windows.count_windows_s, "feature_service": cfg.feast.feature_service}


def first_model(cfg, dataset, folder: Path, seed: int) -> tuple[Path, dict]:
    """Train on the logged days, register and promote; (model folder, train report)."""
    rep = run_train(cfg, dataset, folder / "first-model", seed=seed, progress=False)
    version, _ = Registry(cfg.path("model_registry")).add_and_promote(folder / "first-model", **_gates(cfg))
    return version.path, rep


class Retrainer:
    def __init__(self, cfg, folder: Path, since_ms: int, seed: int, log: Callable[[str], None]):
        self.cfg, self.folder, self.since_ms, self.seed, self.log = cfg, folder, since_ms, seed, log
        self.writer = TrainingLogWriter(cfg.feedback.training_log_uri)
        self.written = 0
        self.runs: list[dict] = []

    def __call__(self, rows: list, now_ms: int) -> OnnxScorer | None:
        """Retrain on the rows so far; the new model when it was promoted, else None."""
        k = len(self.runs) + 1
        if rows[self.written:]:
            self.writer.write(rows[self.written:], name=f"{k:03d}")
        self.written = len(rows)
        rep = run_retrain(self.cfg, Window(self.since_ms, now_ms), self.folder / f"retrain-{k}",
                          seed=self.seed + k)
        hold = rep.get("holdout", {})
        self.runs.append({"at_ms": now_ms, "status": rep["status"], "reason": rep["reason"],
                          "rows": rep["rows"]["used"], "clicks": rep["clicks"],
                          "candidate": hold.get("candidate"), "current": hold.get("current")})
        self.log(f"retrain {k} at +{(now_ms - self.since_ms) / 3_600_000:.0f} h: {rep['status']} "
                 f"({rep['rows']['used']:,} rows, {rep['clicks']:,} clicks): {rep['reason']}")
        if rep["status"] != "promoted":
            return None
        reg = Registry(self.cfg.path("model_registry"))
        return OnnxScorer(reg.get(reg.current()).path)
