"""discover_servers over a fake /proc tree."""

import errno

import pytest

from ansible_collections.aigov.core.plugins.module_utils.discovery import discovery
from ansible_collections.aigov.core.plugins.module_utils.host import procfs
from ansible_collections.aigov.core.plugins.module_utils.common.redaction import REDACTED

from tests.contracts import validate

from ..fakeproc import FakeProc

SECRET = 'sk-proj-AAAABBBBCCCCDDDD'
VLLM = ['/usr/bin/python3', '-m', 'vllm.entrypoints.openai.api_server', '--model', 'facebook/opt-125m',
        '--host', '0.0.0.0', '--port', '8000']


@pytest.fixture
def proc(tmp_path):
    return FakeProc(tmp_path)


def discover(proc):
    assets, problems = discovery.discover_servers(proc.root, 'node1', 'mid-1')
    for asset in assets:
        validate(asset, 'asset.v1.json')
    return assets, problems


def test_exposed_vllm_without_key(proc):
    proc.add(100, VLLM, env={'PATH': '/usr/bin'}, sockets=[(5001, '0.0.0.0', 8000)])
    proc.add(200, ['/usr/sbin/sshd', '-D'], sockets=[(5002, '0.0.0.0', 22)])
    assets, problems = discover(proc)
    assert problems == []
    assert len(assets) == 1
    asset = assets[0]
    assert asset['kind'] == 'model_server' and asset['name'] == 'vllm' and asset['host'] == 'node1'
    attrs = asset['attributes']
    assert attrs['listeners'] == [{'address': '0.0.0.0', 'port': 8000, 'loopback': False}]
    assert attrs['exposed'] is True
    assert attrs['auth'] == 'none'
    assert attrs['model'] == 'facebook/opt-125m'
    assert asset['confidence'] == 'inferred'
    assert {'type': 'socket', 'pid': 100, 'address': '0.0.0.0', 'port': 8000} in asset['evidence']


def test_api_key_in_env_or_flag_counts_as_auth_and_is_never_copied(proc):
    proc.add(100, VLLM + ['--api-key', SECRET], env={}, sockets=[(5001, '0.0.0.0', 8000)])
    proc.add(101, ['llama-server', '--host', '0.0.0.0', '--port', '8080'], env={'LLAMA_API_KEY': SECRET},
             sockets=[(5003, '0.0.0.0', 8080)])
    assets, _problems = discover(proc)
    assert [a['attributes']['auth'] for a in assets] == ['configured', 'configured']
    assert SECRET not in repr(assets)
    assert REDACTED in repr(assets)


def test_forked_workers_fold_into_their_server(proc):
    proc.add(100, VLLM, env={}, sockets=[(5001, '0.0.0.0', 8000)])
    proc.add(101, VLLM, ppid=100, env={})
    proc.add(102, VLLM, ppid=101, env={})
    assets, _problems = discover(proc)
    assert len(assets) == 1
    assert assets[0]['attributes']['pids'] == [100, 101, 102]


def test_ids_are_stable_across_runs_and_pids(tmp_path):
    first = FakeProc(tmp_path / 'a')
    first.add(100, VLLM, env={}, sockets=[(5001, '0.0.0.0', 8000)])
    second = FakeProc(tmp_path / 'b')
    second.add(9999, VLLM, env={}, sockets=[(7777, '0.0.0.0', 8000)])
    assert discover(first)[0][0]['id'] == discover(second)[0][0]['id']
    other_host = discovery.discover_servers(second.root, 'node2', 'mid-2')[0][0]['id']
    assert other_host != discover(first)[0][0]['id']


def test_loopback_only_server_is_not_exposed(proc):
    proc.add(100, ['/usr/bin/ollama', 'serve'], env={}, sockets=[(5001, '127.0.0.1', 11434)])
    proc.add(101, ['/usr/bin/ollama', 'runner', '--model', 'x'], ppid=100, env={})
    assets, _problems = discover(proc)
    assert len(assets) == 1
    assert assets[0]['attributes']['exposed'] is False
    assert assets[0]['attributes']['auth'] == 'none'


def test_unreadable_sockets_and_env_are_problems_not_failures(proc, monkeypatch):
    proc.add(100, VLLM, sockets=[(5001, '0.0.0.0', 8000)])  # no environ file

    def denied(_root, _pid):
        raise OSError(errno.EACCES, 'Permission denied')
    monkeypatch.setattr(procfs, 'socket_inodes', denied)
    assets, problems = discover(proc)
    asset = assets[0]
    assert asset['confidence'] == 'unresolved'
    assert asset['attributes']['listeners'] is None and asset['attributes']['exposed'] is None
    assert asset['attributes']['auth'] == 'unknown'
    assert any('permission denied' in p and 'pid 100' in p for p in problems)
    assert any('environment of pid 100' in p for p in problems)


def test_dev_mode_is_reported(proc):
    proc.add(100, VLLM, env={'VLLM_SERVER_DEV_MODE': '1'}, sockets=[(5001, '127.0.0.1', 8000)])
    assert discover(proc)[0][0]['attributes']['dev_mode'] == ['VLLM_SERVER_DEV_MODE']
