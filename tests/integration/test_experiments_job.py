"""Experiments in the running scoring job (real Kafka, Redis/Feast, PyFlink, ONNX): an edited
experiments file takes effect without a restart, every answer and served log carries its
variant, a variant ranks with the model it pins, a user keeps their variant, and a broken
edit is refused while the last good file stays in force."""
from __future__ import annotations

import collections

import pytest

from tests.support import scoring_support as S

pytestmark = [pytest.mark.integration, pytest.mark.flink]

EXPERIMENT = """experiments:
  - name: pin
    salt: pin-salt
    start: "2025-11-30T00:00:00Z"
    stop: "2025-12-02T00:00:00Z"
    variants:
      - {{name: control, share: {a}}}
      - {{name: newer, share: {b}, model_version: "{version}"}}
"""


def _round(c: S.Client, name: str, users: list[str]) -> dict:
    """One request per user; their answers by user."""
    rids = [f"{name}-{i}" for i in range(len(users))]
    for rid, u in zip(rids, users):
        c.send(S.request(rid, u))
    assert c.wait(lambda c: set(rids) <= set(c.by_id()), 90), f"round {name} not all answered"
    by = c.by_id()
    return {u: by[rid] for rid, u in zip(rids, users)}


def test_an_edited_experiments_file_applies_without_restart_and_is_stamped_end_to_end(stack, tmp_path):
    from jobs.scoring import start
    registry = tmp_path / "models"
    v1 = S.train_model(registry, 1)
    v2 = S.train_model(registry, 2, promote=False)
    exp_file = tmp_path / "experiments.yaml"
    exp_file.write_text("experiments: []\n")
    cat = S.write_catalog(tmp_path / "catalog.json", S.crafted_catalog())
    cfg, _, tag = S.job_config(tmp_path, registry=registry, catalog=cat,
                               **{"scoring_job.profile_timeout_ms": 1000,
                                  "scoring_job.experiments_file": str(exp_file),
                                  "scoring_job.experiments_poll_ms": 100})
    users = [f"{tag}-u{i}" for i in range(40)]
    S.write_profiles(cfg, {u: [(0, "view", "c2")] for u in users})
    default = cfg.scoring_job.variant

    client, c = start(cfg), S.Client(cfg)
    try:
        before = _round(c, "before", users)
        assert {r.variant for r in before.values()} == {default}
        assert {r.model_version for r in before.values()} == {v1}

        exp_file.write_text(EXPERIMENT.format(a=0.5, b=0.5, version=v2))
        assert c.wait(lambda c: False, 1.5) is False       # > the poll interval: the edit is seen
        during = _round(c, "during", users)
        labels = collections.Counter(r.variant for r in during.values())
        assert set(labels) == {"pin:control", "pin:newer"} and min(labels.values()) >= 8, labels
        for r in during.values():   # the pinned model ranks its variant, the current one the rest
            assert r.model_version == (v2 if r.variant == "pin:newer" else v1), (r.variant, r.model_version)
            assert not r.fallback, r.fallback_reason

        exp_file.write_text(EXPERIMENT.format(a=0.9, b=0.5, version=v2))   # shares > 1: refused
        c.wait(lambda c: False, 1.5)
        after = _round(c, "after", users)
        assert {u: r.variant for u, r in after.items()} == {u: r.variant for u, r in during.items()}

        served = {s.request_id: s for _, s in c.served_logs(3 * len(users))}
        for name, answers in (("before", before), ("during", during), ("after", after)):
            for i, u in enumerate(users):
                assert served[f"{name}-{i}"].variant == answers[u].variant
    finally:
        client.cancel().result()
        c.close()
