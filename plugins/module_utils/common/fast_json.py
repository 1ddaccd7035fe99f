# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""JSON through orjson when it is installed, with exactly the result of the json module.

The event source encodes each decision twice (its seal and its audit line) and parses every request
body, and the asset store's readers parse every record of the store; orjson does that work in C, several
times faster. It is optional (hack/requirements, the
execution environment's requirements.txt): without it, or for a value where orjson and the json
module could differ, the json module does the work, so the bytes hashed into the audit log and the
values parsed never depend on which one ran. Where they could differ (checked by tests/unit against
the json module): a float json writes with an exponent, NaN and infinities (json writes NaN, orjson
null), tuples and types json refuses (orjson writes UUIDs, enums and dataclasses), integers beyond 64
bits (orjson reads them as floats, refuses to write them), lone surrogates and NaN literals (orjson
refuses them).
"""

from __future__ import annotations

import json
import re

from ansible_collections.aigov.core.plugins.module_utils.common import bounded_json

try:
    import orjson
except ImportError:  # the json module gives the same results, more slowly
    orjson = None

_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(',', ':'), ensure_ascii=False)
_SCALARS = frozenset((str, int, bool, type(None)))  # orjson refuses an int beyond 64 bits: json writes it
_LONG_NUMBER = re.compile(r'[0-9]{19}')  # a 19-digit run may be an integer beyond 64 bits: json reads it exactly
_OPTIONS = (orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATETIME
            | orjson.OPT_PASSTHROUGH_DATACLASS) if orjson is not None else 0


def _same_in_both(value):
    """True when orjson writes value as the json module does (or refuses it): dicts, lists, str, int, bool, None,
    and floats json writes without an exponent (0, or 1e-4 <= |x| < 1e16; NaN and infinities fail the test)."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = item.__class__
        if kind in _SCALARS:
            continue
        if kind is dict:
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif kind is not float or not (1e-4 <= abs(item) < 1e16 or item == 0.0):
            return False
    return True


def canonical(value):
    """json.JSONEncoder(sort_keys=True, separators=(',', ':'), ensure_ascii=False).encode(value) as UTF-8 bytes."""
    if orjson is not None and _same_in_both(value):
        try:
            return orjson.dumps(value, option=_OPTIONS)
        except TypeError:  # a key that is not a str, an int beyond 64 bits, a lone surrogate: json decides
            pass
    return _CANONICAL.encode(value).encode('utf-8')


_NOT_READ = object()


def _through_orjson(data):
    """orjson's value of a str, or _NOT_READ where the json module must read it (and say why it cannot)."""
    if orjson is not None and isinstance(data, str) and not _LONG_NUMBER.search(data):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:  # NaN, a lone surrogate, too deep, or not JSON: json decides and says why
            pass
    return _NOT_READ


def loads(data):
    """json.loads(text) of a str: the same value or the same error (the asset store's records: 10^5 at a time)."""
    value = _through_orjson(data)
    return json.loads(data) if value is _NOT_READ else value


def loads_bounded(data, max_depth=bounded_json.MAX_DEPTH):
    """bounded_json.loads(text) of a str: the same value or the same error."""
    value = _through_orjson(data)
    return bounded_json.loads(data, max_depth) if value is _NOT_READ else bounded_json.check_depth(value, max_depth)
