"""The ai_package probe over a fake file system of Python environments."""

import pytest

from ansible_collections.aigov.core.plugins.module_utils.discovery import package_discovery

from tests.contracts import validate


def make_env(site, *dists):
    site.mkdir(parents=True)
    for dist in dists:
        (site / dist).mkdir()


@pytest.fixture
def roots(tmp_path, user_homes):
    make_env(tmp_path / 'usr' / 'lib' / 'python3' / 'dist-packages', 'requests-2.31.0.dist-info', 'torch-2.3.1.dist-info')
    venv = tmp_path / 'opt' / 'agent' / 'venv'
    make_env(venv / 'lib' / 'python3.11' / 'site-packages', 'langchain_core-0.3.15.dist-info', 'openai-1.54.3.dist-info',
             'Llama_Index-0.11.0.dist-info', 'crewai-0.80.0-py3.11.egg-info', 'numpy-2.1.0.dist-info', 'openai')
    (venv / 'pyvenv.cfg').write_text('home = /usr/bin\n')
    home = tmp_path / 'home' / 'bob'
    make_env(home / '.venvs' / 'rag' / 'lib' / 'python3.12' / 'site-packages', 'chromadb-0.5.0.dist-info')
    (home / '.venvs' / 'rag' / 'pyvenv.cfg').write_text('home = /usr/bin\n')
    user_homes(home)
    return {'python_roots': [str(tmp_path / 'usr' / 'lib' / 'python3*' / 'dist-packages')],
            'venv_roots': [str(tmp_path / 'opt'), '~']}, tmp_path


def test_ai_packages_in_system_and_venvs(roots):
    options, tmp_path = roots
    assets, problems = package_discovery.discover_ai_packages(options, 'node1', 'mid')
    assert problems == []
    found = sorted((a['attributes']['package'], a['attributes']['version'], a['attributes']['category'],
                    bool(a['attributes']['venv'])) for a in assets)
    assert found == [('chromadb', '0.5.0', 'vector_db_client', True), ('crewai', '0.80.0', 'agent_framework', True),
                     ('langchain-core', '0.3.15', 'agent_framework', True), ('llama-index', '0.11.0', 'agent_framework', True),
                     ('openai', '1.54.3', 'provider_sdk', True), ('torch', '2.3.1', 'ml_runtime', False)]
    for asset in assets:
        validate(asset, 'asset.v1.json')
    again = package_discovery.discover_ai_packages(options, 'node1', 'mid')[0]
    assert [a['id'] for a in assets] == [a['id'] for a in again]


@pytest.mark.parametrize('name, normalised', [('Llama_Index', 'llama-index'), ('sentence.transformers', 'sentence-transformers'),
                                              ('langchain__core', 'langchain-core')])
def test_normalise(name, normalised):
    assert package_discovery.normalise(name) == normalised
