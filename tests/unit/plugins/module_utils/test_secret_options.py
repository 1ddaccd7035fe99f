"""The shared option adapter and the secret backend option groups: one contract, docs equal to the argspec."""

import pytest
import yaml

from ansible_collections.aigov.core.plugins.doc_fragments.secret_backend import ModuleDocFragment
from ansible_collections.aigov.core.plugins.module_utils.secrets import _secret_backend_options as options
from ansible_collections.aigov.core.plugins.module_utils.common._options import OptionAdapter, OptionGroup, generate_argspec
from ansible_collections.aigov.core.plugins.module_utils.secrets.secret_backend_file import FileBackend
from ansible_collections.aigov.core.plugins.module_utils.secrets.secret_backend_vault import VaultKV2Backend

ENV_NAMES = sorted(set(name for names in options.ENV.values() for name in names))


class FakePlugin(object):
    """get_option/set_option as Ansible's plugins have them: an unknown name raises KeyError."""

    def __init__(self, values):
        self._options = dict(values)

    def get_option(self, name):
        return self._options[name]

    def set_option(self, name, value):
        self._options[name] = value


ADAPTERS = {
    'dict': lambda values: OptionAdapter.from_dict(dict(values)),
    'plugin': lambda values: OptionAdapter.from_plugin(FakePlugin(values)),
}


@pytest.fixture(params=sorted(ADAPTERS))
def adapter(request):
    return ADAPTERS[request.param]


@pytest.fixture
def clean_env(monkeypatch):
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_adapter_contract(adapter):
    opts = adapter(dict(a=1, b=None))
    assert opts.get_option('a') == 1 and opts.get_option('b', 'd') == 'd' and opts.get_option('zz', 'd') == 'd'
    assert opts.has_option('a') and opts.has_option('b') and not opts.has_option('zz')
    opts.set_option('b', 2)
    assert opts.get_filled_options('a', 'b', 'zz') == dict(a=1, b=2)


def test_env_fallback_prefers_bao_and_never_overrides_an_option(adapter, clean_env):
    clean_env.setenv('VAULT_ADDR', 'http://vault:8200')
    clean_env.setenv('BAO_ADDR', 'http://bao:8200')
    clean_env.setenv('VAULT_TOKEN', 'from-env')
    opts = adapter(dict(backend='vault', url=None, token=None))
    backend = options.open_backend(opts)
    assert isinstance(backend, VaultKV2Backend) and backend.url == 'http://bao:8200'
    assert opts.get_option('token') == 'from-env'
    opts = adapter(dict(backend='vault', url='http://given:1', token='given'))
    assert options.open_backend(opts).url == 'http://given:1' and opts.get_option('token') == 'given'


def test_file_backend_needs_no_server_options(adapter, clean_env, tmp_path):
    clean_env.setenv('AIGOV_SECRET_DIR', str(tmp_path))
    backend = options.open_backend(adapter(dict(backend='file', file_dir=None)))
    assert isinstance(backend, FileBackend) and backend.directory == str(tmp_path)


def test_docs_equal_the_argspec_and_env():
    docs = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)['options']
    assert sorted(docs) == sorted(options.ARGSPEC)
    for name, rules in options.ARGSPEC.items():
        for key in ('type', 'default', 'choices', 'elements'):
            assert docs[name].get(key) == rules.get(key), (name, key)
    plugin_env = yaml.safe_load(ModuleDocFragment.PLUGINS)['options']
    # The config manager lets the last variable set win; the option groups let the first win.
    assert dict((name, [e['name'] for e in item['env']][::-1]) for name, item in plugin_env.items()) == options.ENV


def test_secrets_are_no_log():
    assert [name for name, rules in options.ARGSPEC.items() if rules.get('no_log')] == ['token', 'secret_id']


def test_an_option_defined_twice_is_a_bug():
    class One(OptionGroup):
        ARGSPEC = dict(url=dict(type='str'))
    with pytest.raises(ValueError, match='defined twice: url'):
        generate_argspec(options.BackendOptions, One)
