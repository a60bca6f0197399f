"""The ``blend`` candidate: ``logit(p) = α·(booster margin − shift) + (1 − α)·LR logit``.

Why a mixture in the logit: both parents are logistic models, so their logits are
on one scale and the mixture is again one additive score — trees plus a linear
part — that a single ONNX graph computes. ``shift`` is ``log(scale_pos_weight)``
of the booster: its odds inflation is undone *before* mixing, so α weighs two
honest probabilities (the xgboost candidate's own calibrator does the same).
α = 0 is the lr candidate's raw output, α = 1 the xgboost candidate's.

Where α is chosen (``choose_alpha``): on the forward-chaining folds of the
training block — each block predicted by a booster (``TrainResult.folds``) and
an LR (same ``C``) refitted on the rows before it — pooled, over the grid
``ALPHAS``. Not on the validation block, because the blend's validation log loss
(what selection compares, models/select.py) is computed there: an α fitted on
those rows would make the blend look better than it is against candidates that
had no such parameter. The folds were chosen over cross-fitting α on halves of
the validation block because they hold about three times as many rows (the
calibrators are chosen on the same blocks, for the same reason) and because α
is then fixed before the validation block is looked at. One remaining optimism,
shared with the calibrator choice: each fold booster's early stopping watched the
block it then predicts, which flatters the trees a little and so pulls α up.

The graph: the booster's tree ensemble, converted by onnxmltools, is rewritten as
a ``TreeEnsembleRegressor`` that outputs its margin (no sigmoid) with every leaf
weight times α and its base value moved; the LR's linear part (models/linear.py)
with its weights times (1 − α) is added, then one sigmoid, output ``[1 − p, p]``
as the other candidates'. A ``none``/``platt`` calibrator is affine in the logit
and is folded into both parts; isotonic stays outside the graph.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
import xgboost as xgb
from onnx import helper

from models import export, linear
from models.metrics import logloss
from udfs.core.calibration import sigmoid
from udfs.errors import ModelError

ALPHAS = tuple(float(a) for a in np.linspace(0.0, 1.0, 21))


@dataclass
class Blend:
    booster: xgb.Booster
    lin: linear.Linear
    alpha: float
    shift: float  # log(scale_pos_weight) of the booster, undone before mixing

    def margin(self, X: np.ndarray) -> np.ndarray:
        """The booster's honest logit (base score included, class weighting undone)."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        return self.booster.inplace_predict(X, predict_type="margin").astype(np.float64) - self.shift

    def logit(self, X: np.ndarray) -> np.ndarray:
        return self.alpha * self.margin(X) + (1.0 - self.alpha) * self.lin.logit(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return sigmoid(self.logit(X))

    def state(self) -> dict:
        """What signature.json keeps to rebuild it (the trees are ``model.ubj``)."""
        return {"linear": self.lin.to_dict(), "alpha": self.alpha, "shift": self.shift}


def mix(alpha: float, tree_logit: np.ndarray, lr_logit: np.ndarray) -> np.ndarray:
    return sigmoid(alpha * np.asarray(tree_logit) + (1.0 - alpha) * np.asarray(lr_logit))


def choose_alpha(blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                 grid=ALPHAS) -> tuple[float, dict[str, float]]:
    """The α of the lowest pooled log loss over ``blocks`` (labels, tree logit, LR logit), and
    each α's loss. Ties go to the smaller α (closer to the simpler model)."""
    if not blocks:
        raise ModelError("blend: no forward-chaining fold to choose its weight on")
    y = np.concatenate([b[0] for b in blocks])
    zt = np.concatenate([b[1] for b in blocks])
    zl = np.concatenate([b[2] for b in blocks])
    scores = {a: logloss(y, mix(a, zt, zl)) for a in grid}
    best = min(grid, key=lambda a: (scores[a], a))
    return best, {f"{a:.2f}": s for a, s in scores.items()}


def _attrs(node) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _margin_node(booster: xgb.Booster, n_features: int, scale: float, offset: float):
    """A ``TreeEnsembleRegressor`` giving ``scale·margin + offset``, and the graph's ml opset.

    Built from onnxmltools' ``TreeEnsembleClassifier`` (same trees, node ids and missing-value
    routing) so the splits are converted once, by the same code as the xgboost candidate's.
    """
    conv = onnx.load_from_string(export.to_onnx(booster, n_features))
    clf = next((n for n in conv.graph.node if n.op_type == "TreeEnsembleClassifier"), None)
    if clf is None:
        raise ModelError("blend: the converted booster has no TreeEnsembleClassifier")
    a = _attrs(clf)
    if a.get("post_transform") != b"LOGISTIC" or len(a.get("base_values", [])) != 1:
        raise ModelError("blend: unexpected tree ensemble layout (not one logistic score)")
    kw = {k: v for k, v in a.items() if k.startswith("nodes_")}
    kw.update(target_ids=[int(i) for i in a["class_ids"]], target_nodeids=a["class_nodeids"],
              target_treeids=a["class_treeids"],
              target_weights=[float(w) * scale for w in a["class_weights"]],
              base_values=[float(a["base_values"][0]) * scale + offset],
              n_targets=1, aggregate_function="SUM", post_transform="NONE")
    node = helper.make_node("TreeEnsembleRegressor", [linear.INPUT], ["tree_margin"],
                            domain="ai.onnx.ml", **kw)
    ml = next(o.version for o in conv.opset_import if o.domain == "ai.onnx.ml")
    return node, ml


def to_onnx(b: Blend, n_features: int, a: float = 1.0, c: float = 0.0) -> bytes:
    """The graph of ``sigmoid(a·b.logit(x) + c)``: one model, float32 ``(n, d)`` -> ``(n, 2)``."""
    tree, ml = _margin_node(b.booster, n_features, a * b.alpha, -a * b.alpha * b.shift + c)
    nodes, init = linear.logit_nodes(b.lin.folded(a * (1.0 - b.alpha), 0.0), out="lr_logit")
    nodes = [tree, *nodes, helper.make_node("Add", ["tree_margin", "lr_logit"], ["logit"]),
             *linear.probability_nodes("logit")]
    return linear.model_of(nodes, init, n_features, "blend", {"": linear.OPSET, "ai.onnx.ml": ml})


def graph(b: Blend, n_features: int, cal: dict) -> tuple[bytes, dict]:
    """calibrator -> (ONNX bytes, the calibrator as stored): ``none``/``platt`` folded in."""
    shift = float(cal.get("shift", 0.0))
    if cal["method"] == "platt":
        pa, pb = float(cal["a"]), float(cal["b"])
        return to_onnx(b, n_features, pa, pb - pa * shift), dict(cal, in_graph=True)
    if cal["method"] == "none":
        return to_onnx(b, n_features, 1.0, -shift), dict(cal, in_graph=True)
    return to_onnx(b, n_features), dict(cal, in_graph=False)
