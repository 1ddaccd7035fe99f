# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A file's permission bits set safely (aigov.core.ai_file_mode): an octal mode or a short symbolic one.

The change itself is safe_files.chmod(): by descriptor, never through a symlink or
directory a user controls, as the file's owner when it lies in that user's directory.
"""

from __future__ import annotations

import functools
import re

from ansible_collections.aigov.core.plugins.module_utils.host import safe_files
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError

_OCTAL = re.compile(r'^0?[0-7]{3,4}$')
_CLAUSE = re.compile(r'^([ugoa]*)([-+=])([rwx]*)$')
_SHIFT = {'u': 6, 'g': 3, 'o': 0}
_BITS = {'r': 4, 'w': 2, 'x': 1}


def _apply(old, clause):
    who, op, perms = clause.groups()
    bits = sum(_BITS[p] for p in perms)
    for person in (who.replace('a', 'ugo') or 'ugo'):
        shift = _SHIFT[person]
        if op == '+':
            old |= bits << shift
        elif op == '-':
            old &= ~(bits << shift)
        else:
            old = (old & ~(7 << shift)) | (bits << shift)
    return old


def parse_mode(mode):
    """A function of the old permission bits giving the new ones, for MODE.

    MODE: an int, an octal string (C(0600)), or comma-separated clauses of who (u, g, o, a),
    an operator (+, -, =) and permissions (r, w, x), e.g. C(o-w) or C(u=rw,go=).
    """
    if isinstance(mode, int) and not isinstance(mode, bool):
        if not 0 <= mode <= 0o7777:
            raise AigovError('mode %r is out of range' % mode)
        return lambda _old: mode
    text = str(mode)
    if _OCTAL.match(text):
        return lambda _old: int(text, 8)
    clauses = [_CLAUSE.match(part) for part in text.split(',')]
    if not all(clauses):
        raise AigovError('mode %r is neither octal (0600) nor clauses like o-w or u=rw,go=' % text)
    return lambda old: functools.reduce(_apply, clauses, old)


def ensure_mode(path, mode, check_mode=False):
    """Return (changed, {path, mode, previous_mode}) with modes as 4-digit octal strings."""
    try:
        changed, old, new = safe_files.chmod(path, parse_mode(mode), check_mode)
    except FileNotFoundError:
        raise AigovError('cannot change the mode of %s: it does not exist' % path)
    except OSError as exc:
        raise AigovError('cannot change the mode of %s: %s' % (path, exc.strerror or exc))
    return changed, {'path': path, 'mode': '%04o' % new, 'previous_mode': '%04o' % old}
