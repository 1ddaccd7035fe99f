# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local file backend, for a single control node: one JSON file per secret, with its versions.

Files are mode 0600 in a 0700 directory and replaced atomically (temporary
file, fsync, rename). Check-and-set holds under an exclusive flock on a
sidecar lock file, so concurrent runs on this machine cannot both write.
"""

from __future__ import annotations

import fcntl
import json
import os

from ansible_collections.aigov.core.plugins.module_utils.common.atomic_write import write_atomically
from ansible_collections.aigov.core.plugins.module_utils.secrets.secret_backend import (
    CASConflict, SecretBackend, SecretBackendError, SecretMetadata, SecretNotFound, SecretVersion, check_path,
    utc_now_text)

FORMAT = 1
KEEP_VERSIONS = 10  # like KV v2's default max_versions: older versions are dropped


class FileBackend(SecretBackend):
    """Secrets under directory, at <directory>/<path>.json."""

    kind = 'file'

    def __init__(self, directory):
        self.directory = os.path.abspath(directory)
        self.description = self.directory

    def _file(self, path):
        return os.path.join(self.directory, *check_path(path).split('/')) + '.json'

    def _load(self, path):
        name = self._file(path)
        try:
            with open(name) as handle:
                data = json.load(handle)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            reason = getattr(exc, 'strerror', None) or 'not valid JSON'
            raise SecretBackendError('%s: cannot read %s: %s' % (self.where(path), name, reason))
        if not isinstance(data, dict) or data.get('format') != FORMAT or not isinstance(data.get('versions'), dict):
            raise SecretBackendError('%s: %s is not a secret file of format %d' % (self.where(path), name, FORMAT))
        return data

    def read(self, path, version=None):
        data = self._load(path)
        current = data['current_version'] if data else 0
        wanted = version or current
        item = (data or {}).get('versions', {}).get(str(wanted))
        if item is None:
            what = 'version %d' % version if version else 'the current version'
            raise SecretNotFound('%s: not found reading %s' % (self.where(path), what))
        return SecretVersion(item['value'], wanted, item['created_time'])

    def read_metadata(self, path):
        data = self._load(path)
        if data is None:
            return SecretMetadata(0, None, {})
        versions = dict((int(n), item['created_time']) for n, item in data['versions'].items())
        return SecretMetadata(data['current_version'], versions.get(data['current_version']), versions)

    def list(self, path):
        directory = os.path.join(self.directory, *check_path(path).split('/'))
        try:
            entries = os.listdir(directory)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise SecretBackendError('%s: cannot list %s: %s' % (self.where(path), directory, exc.strerror))
        names = set(entry[:-len('.json')] for entry in entries if entry.endswith('.json') and not entry.startswith('.'))
        names.update(entry + '/' for entry in entries if os.path.isdir(os.path.join(directory, entry)))
        return sorted(names)

    def write(self, path, value, expected_version):
        name = self._file(path)
        directory = os.path.dirname(name)
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            lock = os.open(name + '.lock', os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise SecretBackendError('%s: cannot create %s: %s' % (self.where(path), directory, exc.strerror))
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self._load(path) or dict(format=FORMAT, current_version=0, versions={})
            if data['current_version'] != expected_version:
                raise CASConflict('%s: another writer changed the secret first (current version %d, expected %d); '
                                  'nothing written' % (self.where(path), data['current_version'], expected_version))
            new = data['current_version'] + 1
            created = utc_now_text()
            data['versions'][str(new)] = dict(value=value, created_time=created)
            for old in sorted(data['versions'], key=int)[:-KEEP_VERSIONS]:
                del data['versions'][old]
            data['current_version'] = new
            self._replace(name, data, path)
        finally:
            os.close(lock)
        return SecretVersion(None, new, created)

    def _replace(self, name, data, path):
        try:
            write_atomically(name, json.dumps(data, sort_keys=True), 0o600)
        except OSError as exc:
            raise SecretBackendError('%s: cannot write %s: %s; nothing written' % (self.where(path), name, exc.strerror))
