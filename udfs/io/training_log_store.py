"""The training log's offline store: parquet files partitioned by hour, and the reader's rule.

Layout under the store URI (``feedback.training_log_uri``; ``file://…`` or any filesystem
pyarrow knows): ``hour=YYYYMMDDHH/part-<name>.parquet``, the hour (UTC) of the impression.
A file's name is given by the writer (``scripts/cli/training_log.py`` names it by the Kafka
partition and offset range of the batch), so writing the same batch again after a crash
replaces the file instead of adding one; a batch is written to a temporary name and moved
into place, so a reader never sees half a file.

The reader keeps, per impression id, the row of the highest ``revision`` (the late-label
rule of ``udfs.messages.training_log``); rows repeated by an at-least-once delivery are
identical and collapse with it. The Feast view ``training_log`` (features/training_log.py)
reads the same files, its timestamp ``labelled_at`` increasing with the revision.
"""
from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime, timezone
from typing import Iterable

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from udfs.messages.training_log import TrainingRow

_MS_UTC = pa.timestamp("ms", tz="UTC")
SCHEMA = pa.schema([
    ("impression_id", pa.string()), ("request_id", pa.string()), ("user_id", pa.string()),
    ("labelled_at", _MS_UTC),              # labelled_ts: when these labels were known (Feast's timestamp)
    ("ts", pa.int64()),                    # the impression's time, epoch ms
    ("campaign_id", pa.string()), ("creative_id", pa.string()),
    ("bid_type", pa.string()), ("rank", pa.int64()), ("model_version", pa.string()),
    ("variant", pa.string()), ("pctr", pa.float64()), ("feature_set", pa.string()),
    ("features", pa.list_(pa.float32())), ("clicked", pa.int64()), ("conversions", pa.int64()),
    ("conversion_value", pa.float64()), ("revision", pa.int64()),
    ("charge", pa.float64()),              # null in files written before the field existed
])
#: What the Feast view serves: every column but the entity key and the view's timestamp.
FEATURE_COLUMNS = tuple(n for n in SCHEMA.names if n not in ("impression_id", "labelled_at"))


def hour_of(ts_ms: int) -> str:
    """The partition value of an impression at ``ts_ms``: its UTC hour, ``YYYYMMDDHH``."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=timezone.utc).strftime("%Y%m%d%H")


def to_table(rows: Iterable[TrainingRow]) -> pa.Table:
    cols: dict[str, list] = {f.name: [] for f in SCHEMA}
    for r in rows:
        for name in ("impression_id", "request_id", "user_id", "ts", "campaign_id", "creative_id",
                     "bid_type", "rank", "model_version", "variant", "pctr", "feature_set",
                     "conversions", "conversion_value", "revision", "charge"):
            cols[name].append(getattr(r, name))
        cols["labelled_at"].append(r.labelled_ts)
        cols["features"].append(list(r.features))
        cols["clicked"].append(int(r.clicked))
    return pa.table(cols, schema=SCHEMA)


def _fs(uri: str) -> tuple[pafs.FileSystem, str]:
    return pafs.FileSystem.from_uri(uri)


class TrainingLogWriter:
    def __init__(self, uri: str):
        self.fs, self.root = _fs(uri)
        self.fs.create_dir(self.root, recursive=True)

    def write(self, rows: Iterable[TrainingRow], name: str) -> list[str]:
        """Write ``rows`` as ``part-<name>.parquet`` in each hour they fall in; returns the paths."""
        by_hour: dict[str, list[TrainingRow]] = defaultdict(list)
        for r in rows:
            by_hour[hour_of(r.ts)].append(r)
        paths = []
        for hour, part in sorted(by_hour.items()):
            folder = f"{self.root}/hour={hour}"
            self.fs.create_dir(folder, recursive=True)
            final, tmp = f"{folder}/part-{name}.parquet", f"{folder}/.tmp-{uuid.uuid4().hex}"
            pq.write_table(to_table(part), tmp, filesystem=self.fs)
            self.fs.move(tmp, final)
            paths.append(final)
        return paths


def erase_user(uri: str, user_id: str, column: str = "user_id") -> tuple[int, list[str]]:
    """Rewrite every file of the store that holds a row of ``user_id`` without those rows (an
    erasure request, docs/privacy.md); returns (rows removed, files rewritten).

    Each file is rewritten to a temporary name in its own folder and moved over the original (a
    rename): a reader sees the old file or the new one, never half of one. A file left with no
    row is deleted. Every file is read for the id (it is not a partition column)."""
    fs, root = _fs(uri)
    if fs.get_file_info(root).type == pafs.FileType.NotFound:
        return 0, []
    removed, rewritten = 0, []
    for path in data_files(fs, root):
        removed_here = rewrite_without(fs, path, column, user_id)
        if removed_here:
            removed += removed_here
            rewritten.append(path)
    return removed, rewritten


def data_files(fs: pafs.FileSystem, root: str) -> list[str]:
    """The store's parquet files (temporary and hidden ones left out), sorted."""
    sel = pafs.FileSelector(root, recursive=True)
    return sorted(i.path for i in fs.get_file_info(sel)
                  if i.type == pafs.FileType.File and i.path.endswith(".parquet")
                  and not i.base_name.startswith((".", "_")))


def rewrite_without(fs: pafs.FileSystem, path: str, column: str, value: str) -> int:
    """``path`` rewritten without its rows whose ``column`` is ``value``; returns the rows removed
    (0: the file is left as it was). Also for the Feast offline files (one parquet file each)."""
    import pyarrow.compute as pc
    ids = pq.read_table(path, columns=[column], filesystem=fs).column(column)
    hits = pc.sum(pc.equal(ids, value)).as_py() or 0
    if not hits:
        return 0
    table = pq.read_table(path, filesystem=fs)
    keep = table.filter(pc.invert(pc.fill_null(pc.equal(table.column(column), value), False)))
    if keep.num_rows == 0:
        fs.delete_file(path)
        return hits
    folder = path.rsplit("/", 1)[0]
    tmp = f"{folder}/.tmp-{uuid.uuid4().hex}"
    pq.write_table(keep, tmp, filesystem=fs)
    fs.move(tmp, path)
    return hits


def count_user(uri: str, user_id: str, column: str = "user_id") -> int:
    """Rows of the store that hold ``user_id`` (``privacy verify``)."""
    import pyarrow.compute as pc
    fs, root = _fs(uri)
    if fs.get_file_info(root).type == pafs.FileType.NotFound:
        return 0
    return sum(pc.sum(pc.equal(pq.read_table(p, columns=[column], filesystem=fs).column(column),
                               user_id)).as_py() or 0 for p in data_files(fs, root))


def hours(uri: str) -> list[str]:
    """The store's partitions: the ``YYYYMMDDHH`` of each ``hour=`` folder."""
    fs, root = _fs(uri)
    if fs.get_file_info(root).type == pafs.FileType.NotFound:
        return []
    return sorted(i.base_name.removeprefix("hour=") for i in fs.get_file_info(pafs.FileSelector(root))
                  if i.type == pafs.FileType.Directory and i.base_name.startswith("hour="))


def drop_hours(uri: str, drop: list[str]) -> int:
    """Delete the ``hour=`` folders of ``drop`` with their files; returns the files deleted."""
    fs, root = _fs(uri)
    n = 0
    for h in drop:
        folder = f"{root}/hour={h}"
        n += sum(1 for i in fs.get_file_info(pafs.FileSelector(folder, recursive=True))
                 if i.type == pafs.FileType.File)
        fs.delete_dir(folder)
    return n


def read_all(uri: str, since_ms: int | None = None, until_ms: int | None = None) -> pa.Table:
    """Every stored row, revisions and repeats included (the files as written); with
    ``since_ms``/``until_ms``, only impressions with ``since_ms <= ts < until_ms``. Every
    revision of an impression lies in its impression's hour, so the window keeps all of them
    and the hours outside it are not read at all."""
    fs, root = _fs(uri)
    info = fs.get_file_info(root)
    if info.type == pafs.FileType.NotFound:
        return SCHEMA.empty_table()
    dataset = ds.dataset(root, filesystem=fs, format="parquet", schema=SCHEMA.append(pa.field("hour", pa.string())),
                         partitioning=ds.partitioning(pa.schema([("hour", pa.string())]), flavor="hive"),
                         exclude_invalid_files=True, ignore_prefixes=[".", "_"])
    where = None
    if since_ms is not None:
        # YYYYMMDDHH strings order as the hours do: the partition test prunes whole files
        where = (ds.field("hour") >= hour_of(since_ms)) & (ds.field("ts") >= since_ms)
    if until_ms is not None:
        upto = (ds.field("hour") <= hour_of(until_ms)) & (ds.field("ts") < until_ms)
        where = upto if where is None else where & upto
    return dataset.to_table(columns=SCHEMA.names, filter=where)


def read(uri: str, since_ms: int | None = None, until_ms: int | None = None) -> pa.Table:
    """The training log as a reader should see it: per impression id the highest revision,
    sorted by impression time then id (``since_ms``/``until_ms``: as ``read_all``)."""
    table = read_all(uri, since_ms, until_ms)
    if table.num_rows == 0:
        return table
    order = table.sort_by([("impression_id", "ascending"), ("revision", "descending")])
    ids = order.column("impression_id").to_pylist()
    keep = [i for i in range(len(ids)) if i == 0 or ids[i] != ids[i - 1]]
    return order.take(pa.array(keep)).sort_by([("ts", "ascending"), ("impression_id", "ascending")])
