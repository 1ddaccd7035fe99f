# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rewriting a file on a managed host so that no reader ever sees half of it."""

from __future__ import annotations

import os
import tempfile


def replace_text(path, text):
    """Replace PATH's content with TEXT through a temp file and a rename, keeping its mode and owner."""
    info = os.stat(path)
    fd, tmp = tempfile.mkstemp(prefix='.aigov-', dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, 'w') as handle:
            handle.write(text)
        os.chmod(tmp, info.st_mode & 0o7777)
        os.chown(tmp, info.st_uid, info.st_gid)
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
