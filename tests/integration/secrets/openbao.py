"""A real OpenBao dev server for the secret tests, and an independent KV reader to verify them.

The reader talks to the HTTP API with requests directly, never through the
collection's backend code, so a bug there cannot hide itself.
"""

import dataclasses
import os
import secrets
import subprocess
import sys
import time

import requests

from tests.ports import free_port

BAO = os.path.join(os.path.dirname(sys.executable), 'bao')
POLICY = """
path "secret/data/agents/*" { capabilities = ["create", "read", "update"] }
path "secret/metadata/agents/*" { capabilities = ["read"] }
"""
READ_ONLY_POLICY = """
path "secret/data/agents/*" { capabilities = ["read"] }
path "secret/metadata/agents/*" { capabilities = ["read"] }
"""


@dataclasses.dataclass
class OpenBao:
    """One `bao server -dev` on 127.0.0.1 with a random port and root token."""

    workdir: str
    port: int = dataclasses.field(default_factory=free_port)
    root_token: str = dataclasses.field(default_factory=lambda: 'root-' + secrets.token_hex(16))
    proc: subprocess.Popen = None
    tls: bool = False  # -dev-tls: a CA and certificate generated in workdir (ca_cert)
    config: str = None  # an HCL file for what the API cannot set (OpenBao enables audit devices only from config)

    @property
    def url(self):
        return '%s://127.0.0.1:%d' % ('https' if self.tls else 'http', self.port)

    @property
    def ca_cert(self):
        return os.path.join(self.workdir, 'vault-ca.pem')

    def start(self, timeout=30):
        env = dict((k, v) for k, v in os.environ.items() if not k.startswith(('VAULT_', 'BAO_')))
        env['HOME'] = self.workdir  # the dev server stores its token helper file in HOME
        log = open(os.path.join(self.workdir, 'bao-%d.log' % self.port), 'w')
        self.proc = subprocess.Popen([BAO, 'server', '-dev', '-dev-root-token-id=%s' % self.root_token,
                                      '-dev-listen-address=127.0.0.1:%d' % self.port]
                                     + (['-dev-tls', '-dev-tls-cert-dir=%s' % self.workdir] if self.tls else [])
                                     + (['-config=%s' % self.config] if self.config else []), env=env, stdout=log,
                                     stderr=subprocess.STDOUT, cwd=self.workdir)
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, 'bao server exited (%s)' % self.proc.returncode
            try:
                verify = self.ca_cert if self.tls else True
                if requests.get(self.url + '/v1/sys/health', timeout=2, verify=verify).status_code == 200:
                    return self
            except (requests.RequestException, OSError):  # OSError: the CA file is not written yet
                pass
            assert time.monotonic() < deadline, 'bao server did not become healthy in %d s' % timeout
            time.sleep(0.2)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)

    def api(self, method, path, token=None, namespace=None, **kwargs):
        headers = {'X-Vault-Token': token or self.root_token}
        if namespace:
            headers['X-Vault-Namespace'] = namespace
        response = requests.request(method, '%s/v1/%s' % (self.url, path), timeout=10, headers=headers, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else {}

    def setup_auth(self):
        """AppRole (role 'rotator' with a write policy) and a read-only token, set up over the HTTP API."""
        self.api('PUT', 'sys/policies/acl/agents', json={'policy': POLICY})
        self.api('PUT', 'sys/policies/acl/agents-ro', json={'policy': READ_ONLY_POLICY})
        self.api('POST', 'sys/auth/approle', json={'type': 'approle'})
        self.api('POST', 'auth/approle/role/rotator', json={'token_policies': ['agents'], 'token_ttl': '10m'})
        role_id = self.api('GET', 'auth/approle/role/rotator/role-id')['data']['role_id']
        secret_id = self.api('POST', 'auth/approle/role/rotator/secret-id')['data']['secret_id']
        read_only = self.api('POST', 'auth/token/create', json={'policies': ['agents-ro'], 'ttl': '1h'})['auth']['client_token']
        return dict(role_id=role_id, secret_id=secret_id, read_only_token=read_only)


class KV(object):
    """Independent reader of secret/ (KV v2) for verification."""

    def __init__(self, bao):
        self.bao = bao

    def read(self, path, version=None):
        """(value, version) of the current or given version, or None when absent."""
        response = requests.get('%s/v1/secret/data/%s' % (self.bao.url, path), params={'version': version} if version else None,
                                headers={'X-Vault-Token': self.bao.root_token}, timeout=10)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        data = response.json()['data']
        return data['data']['value'], data['metadata']['version']

    def current_version(self, path):
        response = requests.get('%s/v1/secret/metadata/%s' % (self.bao.url, path),
                                headers={'X-Vault-Token': self.bao.root_token}, timeout=10)
        if response.status_code == 404:
            return 0
        response.raise_for_status()
        return response.json()['data']['current_version']

    def write(self, path, value):
        return self.bao.api('POST', 'secret/data/%s' % path, json={'data': {'value': value}})['data']['version']
