"""The training log's parquet store (udfs/io/training_log_store.py) and its reader's rule."""
from __future__ import annotations

import numpy as np
import pytest

from udfs.io import training_log_store as S
from udfs.messages import TrainingRow
from udfs.messages.base import replace
from udfs.messages.examples import EXAMPLES

pytestmark = pytest.mark.unit

H = 3_600_000
T = 1_764_547_200_000          # 2025-12-01T00:00Z
ROW = replace(EXAMPLES[TrainingRow], ts=T + 5, labelled_ts=T + 1_800_000, revision=0, clicked=False,
              conversions=0, conversion_value=0.0)


def test_rows_land_in_their_impressions_hour_and_read_back_exactly(tmp_path):
    uri = (tmp_path / "tl").as_uri()
    rows = [ROW, replace(ROW, impression_id="im2", ts=T + H + 1, labelled_ts=T + H + 1_800_000)]
    paths = S.TrainingLogWriter(uri).write(rows, "p0-000000000000-000000000001")
    assert [p.split("/")[-2:] for p in paths] == [["hour=2025120100", "part-p0-000000000000-000000000001.parquet"],
                                                  ["hour=2025120101", "part-p0-000000000000-000000000001.parquet"]]
    t = S.read(uri)
    assert t.column("impression_id").to_pylist() == ["im1", "im2"]
    got = t.slice(0, 1).to_pylist()[0]
    assert got["ts"] == T + 5 and got["rank"] == 1 and got["clicked"] == 0 and got["model_version"] == "v0001"
    assert np.array(got["features"], np.float32).tobytes() == np.array(ROW.features, np.float32).tobytes()


def test_the_reader_keeps_the_highest_revision_and_a_rewritten_batch_replaces_its_file(tmp_path):
    uri = (tmp_path / "tl").as_uri()
    w = S.TrainingLogWriter(uri)
    w.write([ROW], "a")
    w.write([replace(ROW, revision=1, conversions=1, labelled_ts=T + 2 * H)], "b")
    w.write([replace(ROW, revision=1, conversions=1, labelled_ts=T + 2 * H)], "b")   # the same batch again
    w.write([ROW], "c")                                     # an at-least-once repeat of revision 0
    assert S.read_all(uri).num_rows == 3                    # a, b (once), c
    (only,) = S.read(uri).to_pylist()
    assert (only["revision"], only["conversions"]) == (1, 1)


def test_an_empty_or_absent_store_reads_as_no_rows_and_temporary_files_are_not_read(tmp_path):
    assert S.read((tmp_path / "none").as_uri()).num_rows == 0
    uri = (tmp_path / "tl").as_uri()
    S.TrainingLogWriter(uri).write([ROW], "a")
    (tmp_path / "tl" / "hour=2025120100" / ".tmp-half").write_bytes(b"PAR1 half a file")
    assert S.read(uri).num_rows == 1


def test_the_feast_view_serves_every_stored_column_but_its_key_and_timestamp():
    assert "impression_id" not in S.FEATURE_COLUMNS and "labelled_at" not in S.FEATURE_COLUMNS
    assert set(S.FEATURE_COLUMNS) | {"impression_id", "labelled_at"} == set(S.SCHEMA.names)
    assert S.hour_of(T + H - 1) == "2025120100" and S.hour_of(T + H) == "2025120101"


def test_a_time_window_reads_only_its_impressions_with_every_revision(tmp_path):
    uri = (tmp_path / "tl").as_uri()
    w = S.TrainingLogWriter(uri)
    rows = [replace(ROW, impression_id=f"im{k}", ts=T + k * H // 2) for k in range(6)]   # every 30 min
    w.write(rows, "a")
    w.write([replace(rows[2], revision=1, conversions=1, labelled_ts=T + 5 * H)], "b")   # a late label
    got = S.read(uri, since_ms=T + H, until_ms=T + 2 * H + H // 2)
    assert got.column("impression_id").to_pylist() == ["im2", "im3", "im4"]              # since <= ts < until
    assert got.column("revision").to_pylist() == [1, 0, 0]
    assert S.read_all(uri, since_ms=T + 3 * H).num_rows == 0
    assert S.read(uri, until_ms=T + 1).column("impression_id").to_pylist() == ["im0"]


def test_a_v1_row_from_before_the_charge_reads_with_charge_0_and_cannot_carry_one():
    import json

    from udfs.errors import MessageError
    doc = json.loads(ROW.encode())
    assert doc["v"] == 2 and doc["charge"] == ROW.charge
    doc.pop("charge")
    old = TrainingRow.decode(json.dumps({**doc, "v": 1}))
    assert old.charge == 0.0 and old.impression_id == ROW.impression_id
    with pytest.raises(MessageError, match="v 1 carries no charge"):
        TrainingRow.decode(json.dumps({**doc, "v": 1, "charge": 0.42}))
