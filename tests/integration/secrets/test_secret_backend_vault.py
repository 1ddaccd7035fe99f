"""The vault backend (engine level) against a real OpenBao dev server, checked with an independent reader."""

import warnings

import pytest
import urllib3

from ansible_collections.aigov.core.plugins.module_utils.secrets import secret_backend as sb
from ansible_collections.aigov.core.plugins.module_utils.common._options import OptionAdapter
from ansible_collections.aigov.core.plugins.module_utils.secrets._secret_backend_options import open_backend
from tests.integration.secrets.openbao import OpenBao
from tests.ports import free_port


def backend(**options):
    return open_backend(OptionAdapter.from_dict(dict(backend='vault', **options)))


def test_versions_with_check_and_set(openbao, kv):
    store = backend(url=openbao.url, token=openbao.root_token)
    assert store.read_metadata('agents/kv-a').current_version == 0
    assert store.write('agents/kv-a', 'first-value-1', 0).version == 1
    assert store.write('agents/kv-a', 'second-value-2', 1).version == 2
    current = store.read('agents/kv-a')
    assert (current.value, current.version) == ('second-value-2', 2)
    assert sb.parse_time(current.created_time) >= sb.parse_time(store.read('agents/kv-a', 1).created_time)
    assert store.read('agents/kv-a', 1).value == 'first-value-1'
    assert sorted(store.read_metadata('agents/kv-a').versions) == [1, 2]
    with pytest.raises(sb.CASConflict, match='expected current version 1.*another writer') as info:
        store.write('agents/kv-a', 'stale-value-3', 1)
    assert 'stale-value-3' not in str(info.value) and repr(current) == "<SecretVersion version=2 created_time=%r>" % current.created_time
    assert kv.read('agents/kv-a') == ('second-value-2', 2)
    with pytest.raises(sb.CASConflict):
        store.write('agents/kv-a', 'create-only', 0)  # cas 0: only when nothing exists yet
    with pytest.raises(sb.SecretNotFound, match='path agents/kv-none: not found'):
        store.read('agents/kv-none')


def test_list_names_secrets_and_folders(openbao, kv):
    store = backend(url=openbao.url, token=openbao.root_token)
    assert store.list('listing') == []
    kv.write('listing/bot-a', 'list-value-1')
    kv.write('listing/bot-b/credential', 'list-value-2')
    assert store.list('listing') == ['bot-a', 'bot-b/']
    with pytest.raises(sb.BackendAuthError, match='path listing: permission denied listing'):
        backend(url=openbao.url, token=openbao.auth['read_only_token']).list('listing')


def test_approle_login(openbao, kv):
    store = backend(url=openbao.url, auth_method='approle', role_id=openbao.auth['role_id'],
                    secret_id=openbao.auth['secret_id'])
    assert store.write('agents/kv-approle', 'approle-value', 0).version == 1
    assert kv.read('agents/kv-approle') == ('approle-value', 1)


def test_refusals_name_the_backend_and_path_never_the_credential(openbao, kv):
    bad = 'bad-token-%s' % openbao.port
    with pytest.raises(sb.BackendAuthError) as info:
        backend(url=openbao.url, token=bad).write('agents/kv-denied', 'never-written', 0)
    assert str(info.value) == ('vault backend %s (mount secret), path agents/kv-denied: permission denied writing a new '
                               'version (expected current version 0) (HTTP 403)' % openbao.url)
    with pytest.raises(sb.BackendAuthError, match='permission denied writing'):
        backend(url=openbao.url, token=openbao.auth['read_only_token']).write('agents/kv-denied', 'never-written', 0)
    with pytest.raises(sb.BackendAuthError, match='AppRole login refused') as info:
        backend(url=openbao.url, auth_method='approle', role_id=openbao.auth['role_id'], secret_id='wrong-id').read('agents/x')
    assert 'wrong-id' not in str(info.value) and openbao.auth['role_id'] not in str(info.value)
    assert kv.current_version('agents/kv-denied') == 0


def test_unreachable_backend():
    port = free_port()
    with pytest.raises(sb.BackendUnreachable, match=r'vault backend http://127.0.0.1:%d \(mount secret\), path agents/a: '
                                                    r'unreachable reading the current version' % port):
        backend(url='http://127.0.0.1:%d' % port, token='t', timeout=2).read('agents/a')


def test_namespace_header(openbao, kv):
    openbao.api('POST', 'sys/namespaces/team-ns')
    openbao.api('POST', 'sys/mounts/secret', namespace='team-ns',
                json={'type': 'kv', 'options': {'version': '2'}})
    store = backend(url=openbao.url, token=openbao.root_token, namespace='team-ns')
    assert store.write('agents/kv-ns', 'namespaced-value', 0).version == 1
    assert store.read('agents/kv-ns').value == 'namespaced-value'
    assert kv.read('agents/kv-ns') is None  # not in the root namespace


def test_tls_with_ca_bundle(tmp_path):
    bao = OpenBao(str(tmp_path), tls=True).start()
    warnings.simplefilter('ignore', urllib3.exceptions.InsecureRequestWarning)  # validate_certs=False is the point
    try:
        store = backend(url=bao.url, token=bao.root_token, ca_cert=bao.ca_cert)
        assert store.write('agents/tls', 'tls-value', 0).version == 1
        with pytest.raises(sb.BackendUnreachable, match='TLS verification failed'):
            backend(url=bao.url, token=bao.root_token).read('agents/tls')
        assert backend(url=bao.url, token=bao.root_token, validate_certs=False).read('agents/tls').value == 'tls-value'
    finally:
        bao.stop()


@pytest.mark.parametrize('options,message', [
    (dict(token='t'), 'backend=vault needs url'),
    (dict(url='ftp://h', token='t'), "url must be http"),
    (dict(url='http://user:pw@127.0.0.1:1', token='t'), 'url must not contain credentials'),
    (dict(url='http://127.0.0.1:1'), 'auth_method=token needs token'),
    (dict(url='http://127.0.0.1:1', auth_method='approle', role_id='r'), 'auth_method=approle needs secret_id'),
])
def test_bad_options_are_refused_before_any_request(monkeypatch, options, message):
    for name in ('BAO_ADDR', 'VAULT_ADDR', 'BAO_TOKEN', 'VAULT_TOKEN', 'AIGOV_VAULT_SECRET_ID'):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(sb.SecretBackendError, match=message) as info:
        backend(**options)
    assert 'pw' not in str(info.value)
