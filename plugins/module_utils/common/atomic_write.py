# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Replace a file on the controller whole: readers see the old content or the new, never half of it.

For the files the controller keeps for itself (reports, the AI-BOM, rotation locks, the
file secret backend). What root writes on a managed host goes through
module_utils/host/safe_files.py instead, which also refuses paths other users control.
"""

from __future__ import annotations

import contextlib
import os
import tempfile


def _fsync_dir(directory):
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path, data, mode=0o600):
    """Replace PATH with DATA (str as UTF-8, or bytes) through a temp file in its directory, fsync and rename.

    The new file has MODE; the temp file is private (0600) until it is renamed. The directory is
    fsynced too, so the new content survives a crash once this returns. OSError on failure,
    with no temp file left behind and PATH untouched.
    """
    if isinstance(data, str):
        data = data.encode('utf-8')
    directory = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(prefix='.%s.aigov-' % os.path.basename(path), dir=directory)  # created 0600
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.rename(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_dir(directory)
