"""The hot path's JSON keeps the standard library's meaning (redfire.jsonio)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from faust.utils import json as faust_json

from redfire import jsonio


def test_writes_what_json_writes_compactly() -> None:
    value = {"order_id": "o-1", "qty": 100, "price": 187.25, "reasons": [], "nested": {"a": None}}
    assert jsonio.dumps(value) == json.dumps(value, separators=(",", ":")).encode()


def test_integer_keys_become_strings_as_json_makes_them() -> None:
    assert jsonio.loads(jsonio.dumps({1700000000000: {"decision": "APPROVED"}})) == {
        "1700000000000": {"decision": "APPROVED"}
    }


def test_integers_beyond_64_bits_round_trip() -> None:
    big = 2**70
    assert jsonio.dumps({"n": big}) == b'{"n":%d}' % big
    assert jsonio.loads(b'{"n":%d}' % big) == {"n": big}


def test_reads_the_non_standard_constants_json_reads() -> None:
    value = jsonio.loads(b'{"a":NaN,"b":Infinity}')
    assert math.isnan(value["a"]) and value["b"] == math.inf


def test_a_non_finite_float_is_written_as_null() -> None:
    assert jsonio.dumps({"var": math.nan}) == b'{"var":null}'


def test_bad_input_raises_what_json_raised() -> None:
    with pytest.raises(UnicodeDecodeError):
        jsonio.loads(b'{"a":"\xff"}')
    with pytest.raises(ValueError):
        jsonio.loads(b'{"a":')
    with pytest.raises(RecursionError):
        jsonio.loads(b"[" * 100_000 + b"]" * 100_000)


def test_a_value_json_cannot_write_is_refused() -> None:
    with pytest.raises(TypeError):
        jsonio.dumps({"when": object()})


def test_a_numpy_scalar_is_written_as_json_writes_it() -> None:
    assert jsonio.dumps({"var": np.float64(1.5)}) == b'{"var":1.5}'


def test_fausts_own_json_still_writes_numpy_scalars() -> None:
    # faust switches its JSON (every web response) to orjson when that is installed,
    # and orjson refuses numpy scalars: a route handed one would answer with an error.
    assert faust_json.dumps({"var": np.float64(1.5)}) == '{"var":1.5}'
