"""fast_json gives exactly what the json module gives (value, bytes or error), with orjson and without it."""

import collections
import datetime
import enum
import json
import random
import struct
import uuid

import pytest

from ansible_collections.aigov.core.plugins.module_utils.common import bounded_json, fast_json

REFERENCE = json.JSONEncoder(sort_keys=True, separators=(',', ':'), ensure_ascii=False)


class Colour(enum.Enum):
    RED = 'red'


class Level(enum.IntEnum):
    HIGH = 3


class Text(str):
    pass


def outcome(function, value):
    try:
        return 'value', function(value)
    except Exception as exc:  # the same error class and message, or the same result
        return 'error', exc.__class__, str(exc)


def reference_canonical(value):
    return REFERENCE.encode(value).encode('utf-8')


def _random_floats(count):
    rng = random.Random(13)
    floats = [struct.unpack('d', struct.pack('Q', rng.getrandbits(64)))[0] for _index in range(count)]
    floats += [rng.random() * 10 ** rng.randint(-8, 18) for _index in range(count)]
    floats += [round(rng.random(), rng.randint(0, 17)) for _index in range(count)]
    return floats + [0.0, -0.0, 1e-4, 9.999999999999999e-05, 1e16, 9999999999999998.0, 0.1, 0.9, 1.0, 5e-324,
                     1.7976931348623157e308, float('nan'), float('inf'), float('-inf')]


def test_canonical_floats_are_the_json_modules(encoder):
    for number in _random_floats(20000):
        assert outcome(fast_json.canonical, {'x': [number]}) == outcome(reference_canonical, {'x': [number]}), number


@pytest.mark.parametrize('value', [
    {'b': 1, 'a': [None, True, False, 'é ✓ 🚀', '\u0000\u001f\u007f\u2028\u2029"\\/']},
    {'big': 2 ** 63 - 1, 'bigger': 2 ** 63, 'biggest': 2 ** 64 - 1, 'beyond': 2 ** 64, 'negative': -2 ** 63 - 1},
    {'z': {'y': {'x': []}}, 'Z': 1, 'é': 2, '\U0001f680': 3, '\uffff': 4},  # key order: code points
    {'tuple': (1, 'a')}, {1: 'int key'}, {True: 'bool key'}, {None: 'none key'}, {'a': 1, 1: 'mixed keys'},
    {'uuid': uuid.UUID(int=1)}, {'enum': Colour.RED}, {'intenum': Level.HIGH}, {'sub': Text('x')},
    {'ordered': collections.OrderedDict([('b', 1), ('a', 2)])}, {'when': datetime.datetime(2026, 12, 6)},
    {'lone': '\udc80'}, {'set': {1}}, {Text('k'): 1}, [1.5, 'x'], 'text', 7, None,
])
def test_canonical_is_the_json_modules(encoder, value):
    assert outcome(fast_json.canonical, value) == outcome(reference_canonical, value)


@pytest.mark.parametrize('text', [
    '{"a": 1, "a": 2}', ' {"a": [1, 2.5, -0, -0.0, 1e5, 1E400, -1E400, 1e-400, 2.5e-324]} ', '[1234567890123456789]',
    '[123456789012345678901234567890]', '[-9223372036854775809]', '["\\ud800", "\\udc80x", "\\ud83d\\ude80"]',
    '[NaN]', '[Infinity, -Infinity]', '{}x', '["\u0000"]', '', '[', '"é ✓"', 'true', 'null',
    '[' * 64 + ']' * 64, '[' * 65 + ']' * 65, '[' * 2000 + ']' * 2000, '{"a":' * 70 + '1' + '}' * 70,
])
def test_loads_bounded_is_bounded_json(encoder, text):
    assert outcome(fast_json.loads_bounded, text) == outcome(bounded_json.loads, text)


@pytest.mark.parametrize('text', [
    '{"a": 1, "a": 2}', ' {"a": [1, 2.5, -0, -0.0, 1e5, 1E400, -1E400, 1e-400, 2.5e-324]} ', '[1234567890123456789]',
    '[123456789012345678901234567890]', '[-9223372036854775809]', '["\\ud800", "\\udc80x", "\\ud83d\\ude80"]',
    '[NaN]', '[Infinity, -Infinity]', '{}x', '["\u0000"]', '', '[', '"é ✓"', 'true', 'null', b'{"bytes": 1}',
    '[' * 64 + ']' * 64, '[' * 2000 + ']' * 2000,
    '{"attributes": {"listeners": [{"address": "0.0.0.0", "port": 8000}], "size": 15032385536, "ratio": 0.1},'
    ' "id": "model_server:0000000000000001", "kind": "model_server", "removed": null, "known": true}',
])
def test_loads_is_the_json_modules(encoder, text):
    assert outcome(fast_json.loads, text) == outcome(json.loads, text)


def test_loads_floats_are_the_json_modules(encoder):
    for number in _random_floats(5000):
        text = json.dumps([number])
        assert outcome(fast_json.loads, text) == outcome(json.loads, text), text
