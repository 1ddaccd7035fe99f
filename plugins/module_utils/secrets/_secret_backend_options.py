# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""FOR INTERNAL COLLECTION USE ONLY: the secret backend options, shared by the module and the lookup.

Docs: plugins/doc_fragments/secret_backend.py (kept equal to ARGSPEC and ENV by a unit test).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ansible_collections.aigov.core.plugins.module_utils.secrets._auth import AuthOptions
from ansible_collections.aigov.core.plugins.module_utils.common import paths
from ansible_collections.aigov.core.plugins.module_utils.common._options import OptionGroup, generate_argspec
from ansible_collections.aigov.core.plugins.module_utils.secrets.secret_backend import SecretBackendError
from ansible_collections.aigov.core.plugins.module_utils.secrets.secret_backend_file import FileBackend
from ansible_collections.aigov.core.plugins.module_utils.secrets.secret_backend_vault import VaultKV2Backend

DEFAULT_FILE_DIR = paths.DATA_DIR + '/secrets'  # relative to paths.base_dir(), as every aigov.core path


class BackendOptions(OptionGroup):
    ARGSPEC = dict(
        backend=dict(type='str', default='vault', choices=['file', 'vault']),
        url=dict(type='str'),
        namespace=dict(type='str'),
        mount_point=dict(type='str', default='secret'),
        validate_certs=dict(type='bool', default=True),
        ca_cert=dict(type='path'),
        timeout=dict(type='int', default=10),
        file_dir=dict(type='path', default=DEFAULT_FILE_DIR),
    )
    ENV = dict(url=['BAO_ADDR', 'VAULT_ADDR'], namespace=['BAO_NAMESPACE', 'VAULT_NAMESPACE'],
               ca_cert=['BAO_CACERT', 'VAULT_CACERT'], file_dir=['AIGOV_SECRET_DIR'])

    def validate(self):
        if self.adapter.get_option('backend', 'vault') != 'vault':
            return
        url = self.adapter.get_option('url')
        if not url:
            raise SecretBackendError('backend=vault needs url (or the environment variable BAO_ADDR or VAULT_ADDR)')
        parts = urlsplit(url)
        if parts.scheme not in ('http', 'https') or not parts.hostname:
            raise SecretBackendError('url must be http(s)://host[:port], not %r' % url)
        if parts.username or parts.password:
            # Credentials in a URL end up in messages and logs: refuse them, and do not echo the URL.
            raise SecretBackendError('url must not contain credentials; use token or AppRole options')
        timeout = self.adapter.get_option('timeout', 10)
        if int(timeout) < 1:
            raise SecretBackendError('timeout must be at least 1 second, not %s' % timeout)


ARGSPEC = generate_argspec(BackendOptions, AuthOptions)
ENV = dict(BackendOptions.ENV, **AuthOptions.ENV)


def open_backend(adapter, warn=None):
    """The configured backend, after env fallbacks and validation of every option; no request is made yet."""
    options = BackendOptions(adapter, warn)
    auth = AuthOptions(adapter, warn)
    options.process()
    auth.process()
    if adapter.get_option('backend', 'vault') == 'file':
        return FileBackend(adapter.get_option('file_dir', DEFAULT_FILE_DIR))
    method = auth.method()
    ca_cert = adapter.get_option('ca_cert')
    verify = ca_cert if ca_cert and adapter.get_option('validate_certs', True) else bool(adapter.get_option('validate_certs', True))
    return VaultKV2Backend(adapter.get_option('url'), adapter.get_option('mount_point', 'secret'), method.login,
                           namespace=adapter.get_option('namespace'), verify=verify,
                           timeout=int(adapter.get_option('timeout', 10)))
