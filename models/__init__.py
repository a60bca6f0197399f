"""The CTR model: leakage-free training data, XGBoost training, evaluation, ONNX export, registry.

Layout (docs/model.md):
- ``datasets/``  loaders that turn a log (synthetic world, Open Bandit, Criteo, any CSV/parquet)
  into one ``Dataset``: a float matrix in a fixed feature order, labels, times, segments;
- ``split``, ``train``, ``calibrate``: time-ordered split, seeded search, final fit, calibration;
- ``metrics``, ``baselines``, ``evaluate``, ``report_html``: the report a person reads;
- ``export``, ``registry``, ``jsonio``: ONNX with a parity gate, the registry's write side
  (adding, promoting, rolling back versions) and the atomic JSON files they write. The
  read side the scoring job shares — the registry's layout and pointer, the runtime
  scorer, calibration applied — is in ``udfs/`` (model_store, onnx_scorer, calibration),
  which never imports this package;
- ``pipeline``, ``cli``: ``adstream model ...``.
"""

import os as _os

# XGBoost's OpenMP threads spin while idle by default; on a small shared box that
# turns 2 threads into an 8x slowdown as soon as another process wants a core.
# Must be set before libgomp loads, i.e. before xgboost is first imported.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
