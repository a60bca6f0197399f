"""The onnxruntime adapter: a model folder (``model.onnx`` + ``signature.json``) → calibrated
click probabilities.

What the scoring job loads (udfs/flink/scoring.py), and what the registry's load check
and training's evaluation run, so a model is judged by the code that serves it. It
depends on onnxruntime and numpy only (no XGBoost, no pandas), runs single-threaded by
default (one scorer per task slot), and turns every way a model folder can be broken —
missing, truncated, not ONNX, signature disagreeing with the graph — into
``ModelError`` so the caller can keep the previous model or fall back to rule-based
ranking. The folder layout and the signature are read by udfs/core/model_store.py, the
calibration applied by udfs/core/calibration.py.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from udfs.core import calibration
from udfs.errors import ModelError
from udfs.core.model_store import MODEL, SIGNATURE, ModelStore, read_signature


class OnnxScorer:
    """Scores float32 rows whose columns are ``self.features``, in that order."""

    def __init__(self, model_dir: str | Path, threads: int = 1):
        self.model_dir = Path(model_dir)
        self.signature = read_signature(self.model_dir / SIGNATURE)
        fmt = self.signature.get("format") or {}
        onnx_path = self.model_dir / fmt.get("file", MODEL)
        try:
            so = ort.SessionOptions()
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
            so.log_severity_level = 3
            self._sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
        except Exception as e:
            raise ModelError(f"cannot load ONNX model {onnx_path}: {e}") from e
        self._input = fmt.get("input", "input")
        self._output = (fmt.get("output") or "probabilities").split("[")[0]
        self.features: list[str] = [f["name"] for f in self.signature["features"]]
        self.defaults = np.array([np.nan if f.get("default") is None else float(f["default"])
                                  for f in self.signature["features"]], dtype=np.float32)
        self.calibration: dict | None = self.signature.get("calibration")
        self.version: str = self.signature.get("registry_version") or self.signature["model_version"]
        inputs = {i.name: i for i in self._sess.get_inputs()}
        width = inputs[self._input].shape[-1] if self._input in inputs else None
        if self._input not in inputs or (isinstance(width, int) and width != len(self.features)):
            raise ModelError(f"{onnx_path}: graph input {list(inputs)} does not match the signature's "
                             f"{len(self.features)} features")

    def score_raw(self, X: np.ndarray) -> np.ndarray:
        """Probabilities straight from the graph (float32; calibrated when ``in_graph``)."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != len(self.features):
            raise ModelError(f"expected a (n, {len(self.features)}) matrix, got {X.shape}")
        return self._sess.run([self._output], {self._input: X})[0][:, 1]

    def score(self, X: np.ndarray) -> np.ndarray:
        """Calibrated click probabilities, one per row."""
        p = self.score_raw(X)
        if self.calibration and not self.calibration.get("in_graph", False):
            return calibration.apply(self.calibration, p)
        return p

    def row(self, values: dict[str, float]) -> np.ndarray:
        """A (1, n) matrix from a name→value mapping; absent names take their defaults."""
        x = self.defaults.copy()
        for i, name in enumerate(self.features):
            if name in values and values[name] is not None:
                x[i] = values[name]
        return x.reshape(1, -1)


def load_current(registry_root: str | Path, threads: int = 1) -> OnnxScorer:
    """The scorer for the registry's ``current`` model (``ModelError`` when there is none)."""
    d = ModelStore(registry_root).current_dir()
    if d is None:
        raise ModelError(f"no current model in {registry_root} (promote one first)")
    return OnnxScorer(d, threads)
