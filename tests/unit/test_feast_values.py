"""The hand-built ValueProto bytes equal Feast's own serialisation, value for value."""
import math
import random

import pytest

from udfs import feast_values as FV
from udfs.features import profile_features

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
