# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sha256 of large files, remembered by (device, inode, size, mtime).

Hashing multi-GB model files on every scan is not acceptable: a file whose
identity and modification time are unchanged keeps its digest. The cache is a
small JSON file on the scanned host; it holds digests of files, nothing secret.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile

CHUNK = 1024 * 1024


def cache_key(stat):
    return '%d:%d:%d:%d' % (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b''):
            digest.update(chunk)
    return digest.hexdigest()


class HashCache(object):
    """Digests by file identity; save() keeps only the entries used in this run."""

    def __init__(self, path):
        self.path = path
        self.problem = None
        self._old, self._used = {}, {}
        if path and os.path.exists(path):
            try:
                with open(path) as handle:
                    loaded = json.load(handle)
                self._old = loaded if isinstance(loaded, dict) else {}
            except (IOError, OSError, ValueError) as exc:
                self.problem = 'hash cache %s unreadable (%s); hashing again' % (path, exc)

    def lookup(self, stat):
        """The cached digest of a file with this stat, or None."""
        key = cache_key(stat)
        digest = self._old.get(key) or self._used.get(key)
        if digest:
            self._used[key] = digest
        return digest

    def store(self, stat, digest):
        self._used[cache_key(stat)] = digest

    def save(self):
        """Write the cache atomically; return a problem string instead of raising."""
        if not self.path or self._used == self._old:
            return None
        try:
            directory = os.path.dirname(self.path)
            if not os.path.isdir(directory):
                os.makedirs(directory, 0o700)
            handle, temp = tempfile.mkstemp(dir=directory, prefix='.hashes-')
            with os.fdopen(handle, 'w') as stream:
                json.dump(self._used, stream)
            os.rename(temp, self.path)
        except (IOError, OSError) as exc:
            return 'cannot write hash cache %s (%s); next run hashes again' % (self.path, exc)
        return None
