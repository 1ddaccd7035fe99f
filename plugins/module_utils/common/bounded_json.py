# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""JSON from what a host or a server controls, with its nesting bounded.

json.loads raises RecursionError, not ValueError, on a document nested a
thousand levels deep, and a few hundred levels still break whoever walks the
result later. loads() turns both into a ValueError at MAX_DEPTH.
"""

from __future__ import annotations

import json

MAX_DEPTH = 64


def loads(data, max_depth=MAX_DEPTH):
    """json.loads of DATA (str or bytes); ValueError when it is not JSON or nests deeper than MAX_DEPTH."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise ValueError('JSON nested deeper than %d levels' % max_depth) from None
    return check_depth(value, max_depth)


def check_depth(value, max_depth=MAX_DEPTH):
    """value (what a JSON parser made of a document: dicts, lists, scalars); ValueError when it nests deeper than max_depth."""
    level, depth = [value] if value.__class__ in _CONTAINERS else [], 0
    while level:  # one pass per level over the containers only (json.loads makes exactly dicts and lists)
        below = []
        for item in level:
            below.extend([child for child in (item.values() if item.__class__ is dict else item)
                          if child.__class__ in _CONTAINERS])
        level = below
        depth += bool(level)
        if depth > max_depth:
            raise ValueError('JSON nested deeper than %d levels' % max_depth)
    return value


_CONTAINERS = frozenset((dict, list))
