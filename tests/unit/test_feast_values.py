"""The hand-built ValueProto bytes equal Feast's own serialisation, value for value."""
import math
import random

import pytest

from udfs.io import feast_values as FV
from udfs.core.features import profile_features

pytestmark = pytest.mark.unit

Value = pytest.importorskip("feast.protos.feast.types.Value_pb2")


def feast_bytes(dtype, v):
    V = Value
    if dtype == "int64":
        return V.Value(int64_val=int(v)).SerializeToString()
    if dtype == "float":
        return V.Value(double_val=float(v)).SerializeToString()
    if dtype == "string":
        return V.Value(string_val=str(v)).SerializeToString()
    if dtype == "string_list":
        return V.Value(string_list_val=V.StringList(val=list(v))).SerializeToString()
    return V.Value(double_list_val=V.DoubleList(val=[float(x) for x in v])).SerializeToString()


def samples(rng):
    ints = [0, 1, -1, 127, 128, 300, 2**31, -2**31, 2**63 - 1, -2**63,
            1_764_547_200_000, -9_223_372_036_854_775_808] + [rng.randint(-2**63, 2**63 - 1) for _ in range(200)]
    floats = [0.0, -0.0, 1.0, 0.5, 1e-300, 1e300, math.inf, -math.inf, 123456.789] + \
             [rng.uniform(-1e6, 1e6) for _ in range(200)]
    strings = ["", "a", "c12", "é ü 漢字 🙂", "x" * 200] + \
              ["".join(chr(rng.randint(32, 0x2FFF)) for _ in range(rng.randint(0, 40))) for _ in range(100)]
    lists_s = [[], [""], ["a", "b"], strings[:20]] + [rng.sample(strings, rng.randint(0, 15)) for _ in range(50)]
    lists_d = [[], [0.0], floats[:30]] + [rng.sample(floats, rng.randint(0, 15)) for _ in range(50)]
    return {"int64": ints, "float": floats, "string": strings, "string_list": lists_s, "float_list": lists_d}


def test_every_encoder_matches_feasts_bytes():
    rng = random.Random(5)
    for dtype, values in samples(rng).items():
        for v in values:
            assert FV.ENCODERS[dtype](v) == feast_bytes(dtype, v), (dtype, v)


def test_nan_encodes_like_feast():
    assert FV.double(math.nan) == feast_bytes("float", math.nan)


def test_every_profile_feature_type_has_an_encoder():
    assert {f.dtype for f in profile_features((600, 3600, 86400))} <= set(FV.ENCODERS)


@pytest.mark.parametrize("user", ["u1", "", "tb-u12345", "é 漢字 🙂", "x" * 300])
def test_redis_key_matches_feasts(user):
    from feast.infra.online_stores.helpers import _redis_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    want = _redis_key("adstream", EntityKey(join_keys=["user_id"],
                                            entity_values=[Value.Value(string_val=user)]), 3)
    assert FV.redis_key("adstream", "user_id", user) == want


def test_field_names_match_feasts():
    from feast.infra.online_stores.helpers import _mmh3
    for f in profile_features((600, 3600, 86400)):
        assert FV.field_name("user_profile", f.name) == _mmh3(f"user_profile:{f.name}")


def test_the_profile_writer_and_the_scoring_reader_do_not_import_feast():
    # Importing Feast costs a job ~3 s at every start; the writer and the reader need none of it.
    import subprocess
    import sys

    from udfs.config import ROOT
    code = ("import sys\nfrom udfs import config\nfrom udfs.io import feast_store\n"
            "w = feast_store.RedisProfileWriter(config.load('test'))\n"
            "w._key('u1'); w._encoded('float_list', [1.0])\n"
            "from udfs.flink.profile import ProfileFunction\n"
            "from udfs.io.online_read import OnlineProfileReader\n"
            "from udfs.flink.scoring import ScoringFunction\n"
            "r = OnlineProfileReader(config.load('test'))\n"
            "assert r.read.__name__ and __import__('udfs.io.feast_values').io.feast_values.decode(b'\\x29' + bytes(8)) == 0.0\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'feast')\n"
            "assert not loaded, loaded\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def protobuf_read(b):
    """The reader's protobuf path (what it did for every value before ``FV.decode``): the reference."""
    from udfs.io.online_read import _protobuf_value
    return _protobuf_value(b)


def same(a, b):
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return type(a) is type(b) and a == b and (not isinstance(a, float) or math.copysign(1, a) == math.copysign(1, b))


def test_decode_reads_what_protobuf_reads():
    rng = random.Random(11)
    for dtype, values in samples(rng).items():
        for v in [*values, *( [[math.nan]] if dtype == "float_list" else [math.nan] if dtype == "float" else [])]:
            for b in (feast_bytes(dtype, v), FV.ENCODERS[dtype](v)):
                got = FV.decode(b)
                assert got is not FV.FALLBACK, (dtype, v)
                assert same(got, protobuf_read(b)), (dtype, v)


def test_decode_falls_back_on_anything_else():
    rng = random.Random(12)
    others = [Value.Value(int32_val=5), Value.Value(float_val=0.25), Value.Value(bool_val=True),
              Value.Value(bytes_val=b"xy"), Value.Value(int64_list_val=Value.Int64List(val=[1, 2])),
              Value.Value()]
    for v in others:
        assert FV.decode(v.SerializeToString()) is FV.FALLBACK
    # mangled bytes: either read exactly as protobuf reads them, or left to protobuf
    pool = [FV.ENCODERS[d](v) for d, vs in samples(rng).items() for v in vs[:40]]
    for _ in range(5000):
        b = bytearray(rng.choice(pool))
        op = rng.randrange(3)
        if op == 0 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 1 and b:
            del b[rng.randrange(len(b)):]
        else:
            b += bytes([rng.randrange(256)])
        got = FV.decode(bytes(b))
        if got is FV.FALLBACK:
            continue
        try:
            want = protobuf_read(bytes(b))
        except Exception:
            raise AssertionError(f"decode read {bytes(b)!r} that protobuf rejects")
        assert same(got, want), bytes(b)
