# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The OpenBao / HashiCorp Vault KV version 2 backend, over the HTTP API (controller side).

The secret is the `value` field of the KV entry's data. Writes carry `cas`,
so a write made after someone else's is refused instead of overwriting it.
"""

from __future__ import annotations

from urllib.parse import quote

from ansible_collections.aigov.core.plugins.module_utils.secrets.secret_backend import (
    BackendAuthError, BackendUnreachable, CASConflict, SecretBackend, SecretBackendError, SecretMetadata,
    SecretNotFound, SecretVersion, check_path)

try:
    import requests
except ImportError:  # pragma: no cover - reported when the backend is opened
    requests = None

VALUE_FIELD = 'value'


class VaultKV2Backend(SecretBackend):
    """KV v2 at url/v1/<mount_point>/; `login(backend)` returns a client token (see _auth.py)."""

    kind = 'vault'

    def __init__(self, url, mount_point, login, namespace=None, verify=True, timeout=10):
        if requests is None:
            raise SecretBackendError('the vault backend needs the Python library requests on the controller')
        self.url = url.rstrip('/')
        self.mount_point = mount_point.strip('/')
        self.namespace = namespace
        self.description = '%s (mount %s%s)' % (self.url, self.mount_point, ', namespace %s' % namespace if namespace else '')
        self._login = login
        self._token = None
        self._verify = verify
        self._timeout = timeout
        self._session = requests.Session()

    def request(self, method, api_path, what, path, body=None, params=None, token=True):
        """One API call; returns the decoded JSON (or {}). Errors name the backend and path, never the token."""
        headers = {}
        if self.namespace:
            headers['X-Vault-Namespace'] = self.namespace
        if token:
            if self._token is None:
                self._token = self._login(self)
            headers['X-Vault-Token'] = self._token
        where = self.where(path)
        try:
            response = self._session.request(method, '%s/v1/%s' % (self.url, api_path), json=body, params=params,
                                             headers=headers, verify=self._verify, timeout=self._timeout)
        except requests.exceptions.SSLError as exc:
            raise BackendUnreachable('%s: TLS verification failed %s: %s' % (where, what, _reason(exc)))
        except requests.exceptions.Timeout:
            raise BackendUnreachable('%s: no answer within %s s %s' % (where, self._timeout, what))
        except requests.exceptions.RequestException as exc:
            raise BackendUnreachable('%s: unreachable %s: %s' % (where, what, _reason(exc)))
        try:
            data = response.json() if response.content else {}
        except ValueError:
            data = {}
        errors = '; '.join(str(e) for e in data.get('errors') or []) if isinstance(data, dict) else ''
        if response.status_code in (401, 403):
            raise BackendAuthError('%s: permission denied %s (HTTP %d)' % (where, what, response.status_code))
        if response.status_code == 404:
            raise SecretNotFound('%s: not found %s (HTTP 404)' % (where, what))
        if response.status_code == 400 and 'check-and-set' in errors:
            raise CASConflict('%s: %s: another writer changed the secret first; nothing written' % (where, what))
        if response.status_code >= 400:
            raise SecretBackendError('%s: HTTP %d %s%s' % (where, response.status_code, what, ': ' + errors if errors else ''))
        return data if isinstance(data, dict) else {}

    def _data_path(self, kind, path):
        return '%s/%s/%s' % (quote(self.mount_point), kind, quote(check_path(path)))

    def read(self, path, version=None):
        what = 'reading version %d' % version if version else 'reading the current version'
        data = self.request('GET', self._data_path('data', path), what, path,
                            params={'version': version} if version else None).get('data') or {}
        values, metadata = data.get('data'), data.get('metadata') or {}
        if not isinstance(values, dict):
            raise SecretNotFound('%s: not found %s (deleted or destroyed)' % (self.where(path), what))
        if not isinstance(values.get(VALUE_FIELD), str):
            raise SecretBackendError("%s: the KV entry has no string field '%s', so it was not written by aigov.core"
                                     % (self.where(path), VALUE_FIELD))
        return SecretVersion(values[VALUE_FIELD], metadata.get('version'), metadata.get('created_time'))

    def read_metadata(self, path):
        try:
            data = self.request('GET', self._data_path('metadata', path), 'reading metadata', path).get('data') or {}
        except SecretNotFound:
            return SecretMetadata(0, None, {})
        versions = dict((int(number), item.get('created_time')) for number, item in (data.get('versions') or {}).items()
                        if not item.get('deletion_time') and not item.get('destroyed'))
        current = int(data.get('current_version') or 0)
        return SecretMetadata(current, versions.get(current), versions)

    def list(self, path):
        try:
            data = self.request('LIST', self._data_path('metadata', path) + '/', 'listing', path).get('data') or {}
        except SecretNotFound:
            return []
        return sorted(key for key in data.get('keys') or [] if isinstance(key, str))

    def write(self, path, value, expected_version):
        body = {'options': {'cas': int(expected_version)}, 'data': {VALUE_FIELD: value}}
        data = self.request('POST', self._data_path('data', path), 'writing a new version (expected current version %d)'
                            % expected_version, path, body=body).get('data') or {}
        return SecretVersion(None, data.get('version'), data.get('created_time'))


def _reason(exc):
    """A requests error, shortened. Its URL carries no credentials: URLs with user info are refused."""
    text = str(exc)
    return text if len(text) < 300 else text[:300] + '...'
