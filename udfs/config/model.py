"""The CTR model's section (``model``): training, export and the registry's gate (``models/``).

Three of its keys are the label's definition and so are read by the feedback job as
well: ``click_window_s`` and ``conversion_window_s`` (attribution, ``udfs/core/attribution.py``)
and ``prior_strength`` (the CTR prior, ``udfs/core/ad_stats.py``) — training and serving
must agree on them, hence one home.
"""
from __future__ import annotations

from dataclasses import dataclass

from udfs.errors import ConfigError


# the kinds models/select.py can fit (kept here: serving code must not import training code)
CANDIDATES = ("lr", "xgboost", "gbdt_lr", "blend")


@dataclass(frozen=True)
class Model:
    """CTR model training, export and registry (models/, docs/model.md)."""
    click_window_s: int = 1800            # a click is attributed to an impression this long after it
    conversion_window_s: int = 604800     # a conversion counts within 7 days of its impression
    prior_strength: float = 100.0         # ad_ctr_prior = (clicks + a*fallback_prior_ctr) / (imps + a)
    valid_fraction: float = 0.15          # time-ordered split: oldest train | valid | newest test
    test_fraction: float = 0.15
    cv_folds: int = 3                     # forward-chaining folds inside train for the search
    budget: int = 20                      # hyper-parameter search trials
    max_rounds: int = 400                 # boosting rounds before early stopping
    max_depth_sum: int = 450              # trees x max_depth cap (scoring latency); 0 = none
    early_stopping_rounds: int = 30
    nthread: int = 2
    seed: int = 7
    calibration: str = "auto"             # auto | none | platt | isotonic
    candidates: tuple[str, ...] = ("lr", "xgboost", "gbdt_lr")  # fitted; lowest validation log loss ships
    parity_tolerance: float = 1e-5        # max |training - onnxruntime| on the test set
    promote_auc_tolerance: float = 0.0    # refuse promotion when AUC < current - tolerance
    retrain_min_rows: int = 2000          # `model retrain`: fewer logged rows in the window -> skipped
    retrain_min_clicks: int = 50          # ... fewer clicks among them -> skipped
    retrain_ips_clip: float = 20.0        # largest inverse-propensity weight (rows with a propensity)

    def __post_init__(self) -> None:
        if self.calibration not in ("auto", "none", "platt", "isotonic"):
            raise ConfigError("model.calibration", "must be auto, none, platt or isotonic")
        bad = [c for c in self.candidates if c not in CANDIDATES]
        if bad or not self.candidates:
            raise ConfigError("model.candidates", f"must be a non-empty list of {', '.join(CANDIDATES)} (got {bad})")
        if not (0 < self.valid_fraction < 1 and 0 < self.test_fraction < 1
                and self.valid_fraction + self.test_fraction < 1):
            raise ConfigError("model.valid_fraction", "valid and test fractions must be in (0, 1) "
                              "and leave rows for training")
        if self.retrain_ips_clip < 1.0:
            raise ConfigError("model.retrain_ips_clip", "must be >= 1 (a weight cap of 1/propensity)")
        for name in ("cv_folds", "budget", "max_rounds", "early_stopping_rounds", "nthread",
                     "retrain_min_rows", "retrain_min_clicks"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name}", "must be >= 1")
