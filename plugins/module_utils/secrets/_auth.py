# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""FOR INTERNAL COLLECTION USE ONLY: authentication to OpenBao / Vault, one class per method.

login(backend) returns a client token. Tokens and secret ids never appear in
messages: errors name the method, the backend and the login path.
"""

from __future__ import annotations

from ansible_collections.aigov.core.plugins.module_utils.common._options import OptionGroup
from ansible_collections.aigov.core.plugins.module_utils.secrets.secret_backend import BackendAuthError, SecretBackendError


class TokenAuth(object):
    name = 'token'

    def __init__(self, adapter):
        self.token = adapter.get_option('token')

    def validate(self):
        if not self.token:
            raise SecretBackendError('auth_method=token needs token (or the environment variable BAO_TOKEN or VAULT_TOKEN)')

    def login(self, backend):
        return self.token


class AppRoleAuth(object):
    name = 'approle'

    def __init__(self, adapter):
        self.role_id = adapter.get_option('role_id')
        self.secret_id = adapter.get_option('secret_id')
        self.mount_point = (adapter.get_option('approle_mount_point') or 'approle').strip('/')

    def validate(self):
        missing = [name for name in ('role_id', 'secret_id') if not getattr(self, name)]
        if missing:
            raise SecretBackendError('auth_method=approle needs %s' % ' and '.join(missing))

    def login(self, backend):
        login_path = 'auth/%s/login' % self.mount_point
        try:
            data = backend.request('POST', login_path, 'logging in with AppRole', login_path, token=False,
                                   body={'role_id': self.role_id, 'secret_id': self.secret_id})
        except SecretBackendError as exc:
            if isinstance(exc, BackendAuthError) or 'HTTP 400' in str(exc):
                raise BackendAuthError('%s: AppRole login refused (role_id or secret_id invalid or expired)'
                                       % backend.where(login_path))
            raise
        token = (data.get('auth') or {}).get('client_token')
        if not token:
            raise BackendAuthError('%s: AppRole login returned no client token' % backend.where(login_path))
        return token


METHODS = dict((method.name, method) for method in (TokenAuth, AppRoleAuth))


class AuthOptions(OptionGroup):
    ARGSPEC = dict(
        auth_method=dict(type='str', default='token', choices=sorted(METHODS)),
        token=dict(type='str', no_log=True),
        role_id=dict(type='str', no_log=False),
        secret_id=dict(type='str', no_log=True),
        approle_mount_point=dict(type='str', default='approle'),
    )
    ENV = dict(token=['BAO_TOKEN', 'VAULT_TOKEN'], role_id=['AIGOV_VAULT_ROLE_ID'], secret_id=['AIGOV_VAULT_SECRET_ID'])

    def method(self):
        """The validated auth method object of the adapter's options."""
        name = self.adapter.get_option('auth_method', 'token')
        if name not in METHODS:
            raise SecretBackendError('auth_method must be one of %s, not %r' % (', '.join(sorted(METHODS)), name))
        method = METHODS[name](self.adapter)
        method.validate()
        return method
