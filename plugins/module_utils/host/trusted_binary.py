# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one rule for a program root runs on a host: an absolute path that only root can change.

The file (symlinks resolved: Debian's docker is one) and every directory above it must be
owned by root and writable by no one else, except a root-owned sticky directory such as /tmp,
where no user can replace an entry root owns. A PATH entry or a directory a user can write is
never trusted: whoever can change the file there runs as root the next time it is asked.
"""

from __future__ import annotations

import os
import stat


def find(name, candidates):
    """(path, None) of the first candidate that is an executable only root can change, else (None, why), where
    why is None when no candidate exists (nothing installed is not a refusal)."""
    why = None
    for path in candidates:
        if not os.path.isabs(path) or not os.path.exists(path):
            continue
        real = os.path.realpath(path)
        try:
            info = os.stat(real)
            chain = [os.stat(directory) for directory in _parents(real)]
        except OSError as exc:
            why = 'cannot check %s (%s)' % (real, exc.strerror)
            continue
        if not stat.S_ISREG(info.st_mode) or not info.st_mode & stat.S_IXUSR:
            why = '%s is not an executable file' % real
        elif not _root_only(info) or not all(_root_only(item) or _root_sticky(item) for item in chain):
            why = '%s, or a directory above it, can be changed by another user than root: it is not run' % real
        else:
            return path, None
    return None, why


def _root_only(info):
    return info.st_uid == 0 and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _root_sticky(info):
    return info.st_uid == 0 and bool(info.st_mode & stat.S_ISVTX)


def _parents(path):
    parents = []
    while True:
        path = os.path.dirname(path)
        parents.append(path)
        if path == '/':
            return parents
