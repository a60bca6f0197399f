"""The two baselines every report carries, fitted on the same split as the model.

- ``lr``: logistic regression — numeric columns signed-log transformed, imputed
  (with missing flags) and standardised, plus one-hot raw categories seen at
  least 3 times in training; ``C`` chosen on validation log loss. The classic
  CTR baseline, and a fair one: it sees every column the model sees.
- ``prior``: the empirical CTR of the ad/item — for live-feature datasets the
  request-time ``ad_ctr_prior`` (what the rule-based fallback serves), else a
  smoothed per-key CTR from the training block; the global training CTR when
  the dataset has no key (AUC 0.5 by construction).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from models.datasets.common import Dataset
from models.metrics import logloss
from models.split import Split


def _signed_log(x):
    return np.sign(x) * np.log1p(np.abs(x))


def _design(ds: Dataset):
    num = make_pipeline(FunctionTransformer(_signed_log),
                        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                        StandardScaler())
    parts = [("num", num, list(ds.X.columns))]
    if ds.raw_categorical is not None and len(ds.raw_categorical.columns):
        parts.append(("cat", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=3),
                      list(ds.raw_categorical.columns)))
    return ColumnTransformer(parts, sparse_threshold=1.0)


def _frame(ds: Dataset, idx: np.ndarray) -> pd.DataFrame:
    X = ds.X.iloc[idx].reset_index(drop=True)
    if ds.raw_categorical is not None:
        X = pd.concat([X, ds.raw_categorical.iloc[idx].reset_index(drop=True)], axis=1)
    return X


def logistic(ds: Dataset, split: Split, seed: int = 0) -> tuple[np.ndarray, dict]:
    """Test-set probabilities of the LR baseline, and what was chosen."""
    design = _design(ds).fit(_frame(ds, split.train))
    Xtr, Xva, Xte = (design.transform(_frame(ds, i)) for i in (split.train, split.valid, split.test))
    Xtr, Xva, Xte = (sparse.csr_matrix(m) for m in (Xtr, Xva, Xte))
    y = ds.y
    best = None
    for C in (0.01, 0.1, 1.0, 10.0):
        m = LogisticRegression(C=C, max_iter=2000, random_state=seed).fit(Xtr, y[split.train])
        loss = logloss(y[split.valid], m.predict_proba(Xva)[:, 1])
        if best is None or loss < best[0]:
            best = (loss, C, m)
    _, C, model = best
    return model.predict_proba(Xte)[:, 1], {"C": C, "inputs": int(Xtr.shape[1])}


def prior(ds: Dataset, split: Split, strength: float = 20.0) -> tuple[np.ndarray, dict]:
    """Test-set probabilities of the empirical-CTR prior baseline."""
    y = ds.y
    base = float(y[split.train].mean())
    if ds.live and "ad_ctr_prior" in ds.X.columns:
        return ds.X["ad_ctr_prior"].to_numpy()[split.test].astype(np.float64), {"kind": "request-time ad_ctr_prior"}
    if ds.prior_key is None:
        return np.full(len(split.test), base), {"kind": "global training CTR"}
    keys = pd.Series(ds.prior_key[split.train])
    g = pd.DataFrame({"k": keys, "y": y[split.train]}).groupby("k")["y"].agg(["sum", "count"])
    ctr = (g["sum"] + strength * base) / (g["count"] + strength)
    p = pd.Series(ds.prior_key[split.test]).map(ctr).fillna(base).to_numpy(dtype=np.float64)
    return p, {"kind": "per-key CTR from the training block", "strength": strength}
