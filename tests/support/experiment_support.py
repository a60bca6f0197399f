"""What the experiment report's unit and integration tests share: an experiments file, training
rows bucketed as the scoring job would, and the command's arguments."""
from __future__ import annotations

import argparse

import numpy as np

from udfs.config.experiments import Experiment, Variant
from udfs.core.experiments import bucket
from udfs.messages import TrainingRow
from udfs.messages.base import replace
from udfs.messages.examples import EXAMPLES

T = 1_764_547_200_000          # 2025-12-01T00:00Z
H = 3_600_000
START, STOP = "2025-12-01T00:00:00Z", "2025-12-08T00:00:00Z"
ROW = replace(EXAMPLES[TrainingRow], revision=0, labelled_ts=T + 10 * H)
EXP = Experiment("ctr-test", "salt-1", START, STOP, (Variant("control", 0.5), Variant("boost", 0.5)))
FILE = f"""experiments:
  - name: ctr-test
    salt: salt-1
    start: "{START}"
    stop: "{STOP}"
    variants:
      - {{name: control, share: 0.5}}
      - {{name: boost, share: 0.5}}
"""


def rows(n_users=3000, lift=0.4, seed=3) -> list[TrainingRow]:
    """Users bucketed as the scoring job would; 1-3 requests each over 12 hours, 1-2 impressions
    per request, a click rate per user, treatment's times 1 + lift; bid types mixed."""
    rng = np.random.default_rng(seed)
    out = []
    for u in range(n_users):
        user = f"u{u}"
        arm = "control" if bucket(EXP.salt, user) < 0.5 else "boost"
        rate = rng.beta(2, 30) * (1 + lift if arm == "boost" else 1)
        for q in range(rng.integers(1, 4)):
            ts = T + int(rng.integers(0, 12 * H))
            for k in range(rng.integers(1, 3)):
                bt = ("CPM", "CPC", "CPA")[int(rng.integers(0, 3))]
                clicked = bool(rng.random() < rate)
                out.append(replace(ROW, impression_id=f"im-{u}-{q}-{k}", request_id=f"r-{u}-{q}", user_id=user,
                                   ts=ts + k, variant=EXP.label(arm), bid_type=bt, clicked=clicked,
                                   conversions=int(clicked and rng.random() < 0.2), charge=0.002 if bt == "CPM"
                                   else 0.3 if bt == "CPC" else 5.0))
    return out


def args(**kw) -> argparse.Namespace:
    base = dict(name="ctr-test", training_log=None, served_log=False, out=None, alpha=None, as_of=None)
    return argparse.Namespace(**{**base, **kw})
