# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sha256 of large files, remembered by (device, inode, size, mtime, ctime).

Hashing multi-GB model files on every scan is not acceptable: a file whose
identity and modification and change times are unchanged keeps its digest. The
ctime matters: a file rewritten in place can get its old mtime back (utime),
but no user can set its ctime. The cache is a small JSON file on the scanned
host; it holds digests of files, nothing secret. It is written through safe_files, as
everything root writes on a host: never through a directory or link another user controls.
"""

from __future__ import annotations

import hashlib
import json
import os
import re

from ansible_collections.aigov.core.plugins.module_utils.common import bounded_json
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.host import safe_files
from ansible_collections.aigov.core.plugins.module_utils.host.safe_files import CHUNK, open_regular, read_capped

MAX_CACHE_BYTES = 16 * 1024 * 1024
_DIGEST = re.compile(r'^[0-9a-f]{64}$')


def cache_key(stat):
    return '%d:%d:%d:%d:%d' % (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


def sha256_file(path):
    digest = hashlib.sha256()
    with open_regular(path) as handle:
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
                data, more = read_capped(path, MAX_CACHE_BYTES)
                if more:
                    raise ValueError('larger than %d bytes' % MAX_CACHE_BYTES)
                loaded = bounded_json.loads(data)
            except (IOError, OSError, ValueError) as exc:
                self.problem = 'hash cache %s unreadable (%s); hashing again' % (path, exc)
            else:
                self._old = dict((key, digest) for key, digest in loaded.items()
                                 if isinstance(digest, str) and _DIGEST.match(digest)) if isinstance(loaded, dict) else {}

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
            safe_files.ensure_dir(os.path.dirname(self.path), 0o700, parents=True)
            safe_files.replace_file(self.path, json.dumps(self._used).encode('utf-8'), 0o600)
        except (AigovError, OSError) as exc:
            return 'cannot write hash cache %s (%s); next run hashes again' % (self.path, exc)
        return None
