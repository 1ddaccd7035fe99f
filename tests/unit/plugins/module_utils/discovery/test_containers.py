"""Container context of discovered servers: what the runtime says, exposure through published ports, the HTTP
probe through them, versions from the image, model files mounted into serving containers."""

import copy
import json
import os

import pytest

from ansible_collections.aigov.core.plugins.module_utils.discovery import (
    artifact_discovery, container_artifacts, containers, discovery)
from ansible_collections.aigov.core.plugins.module_utils.host import container_runtime

from tests.contracts import validate

from ..fakeproc import FakeProc

ROOT = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', '..')
with open(os.path.join(ROOT, 'tests', 'fixtures', 'containers', 'podman_inspect.json')) as _handle:
    RECORD = json.load(_handle)[0]  # a real podman 4.3 inspect record, trimmed (labels and mount added)
ID = RECORD['Id']
VLLM = ['/usr/bin/python3', '-m', 'vllm.entrypoints.openai.api_server', '--model', '/models/tiny.gguf',
        '--host', '0.0.0.0', '--port', '8000']


def record(ports=None, network='bridge', labels=None, **changes):
    data = copy.deepcopy(RECORD)
    if ports is not None:
        data['NetworkSettings']['Ports'] = ports
    data['HostConfig']['NetworkMode'] = network
    if labels is not None:
        data['Config']['Labels'] = labels
    data.update(changes)
    return data


def context(**kwargs):
    return containers.context_of('podman', ID, False, record(**kwargs))


def listener(address, port=8000):
    return {'address': address, 'port': port, 'loopback': address.startswith('127.') or address == '::1'}


def test_context_from_a_podman_record_never_copies_env_or_create_command():
    found = context()
    assert (found['name'], found['image'], found['image_digest']) == (
        'aigov-probe20b', 'localhost/aigov-testhost:b5eec62e9ff6', RECORD['ImageDigest'])
    assert found['ports'] == [{'host_ip': '0.0.0.0', 'host_port': 18124, 'container_port': 8000, 'protocol': 'tcp'}]
    assert found['kubernetes'] == {'namespace': 'prod'} and found['image_version'] == '0.6.3'
    assert found['labels']['API_TOKEN'] == '<redacted>'  # a secret-looking label's value
    assert found['mounts'] == [{'type': 'bind', 'source': '/srv/models/llama', 'destination': '/models', 'rw': False}]
    text = json.dumps(found)
    assert 'sk-never-copied' not in text and 's3cr3t-label' not in text and 'CreateCommand' not in text


@pytest.mark.parametrize('ports, network, listeners, exposed, paths', [
    ({'8000/tcp': [{'HostIp': '127.0.0.1', 'HostPort': '18123'}]}, 'bridge', [listener('0.0.0.0')], False, []),
    ({'8000/tcp': [{'HostIp': '', 'HostPort': '18124'}]}, 'bridge', [listener('0.0.0.0')], True,
     ['0.0.0.0:18124->8000/tcp']),
    ({'8000/tcp': [{'HostIp': '192.0.2.7', 'HostPort': '80'}, {'HostIp': '::1', 'HostPort': '81'}]}, 'bridge',
     [listener('0.0.0.0')], True, ['192.0.2.7:80->8000/tcp']),
    # published, but the server listens on the container's own loopback: the mapping leads nowhere
    ({'8000/tcp': [{'HostIp': '', 'HostPort': '18124'}]}, 'bridge', [listener('127.0.0.1')], False, []),
    # another port of the container is published, not the server's
    ({'9000/tcp': [{'HostIp': '', 'HostPort': '9000'}]}, 'bridge', [listener('0.0.0.0')], False, []),
    ({'8000/udp': [{'HostIp': '', 'HostPort': '8000'}]}, 'bridge', [listener('0.0.0.0')], False, []),
    ({}, 'bridge', [listener('0.0.0.0')], False, []),  # nothing published: only this host reaches the container
    ({}, 'host', [listener('0.0.0.0')], True, ['host network 0.0.0.0:8000']),
    ({}, 'host', [listener('127.0.0.1')], False, []),
    ({}, 'host', None, None, []),
    ({'8000/tcp': [{'HostIp': '', 'HostPort': '18124'}]}, 'bridge', None, True, ['0.0.0.0:18124->8000/tcp']),
])
def test_exposure_is_the_path_in(ports, network, listeners, exposed, paths):
    assert containers.exposure(listeners, context(ports=ports, network=network)) == (exposed, paths)


def test_exposure_without_the_runtime_or_in_a_pod_follows_the_listeners():
    unasked = containers.context_of('podman', ID, False, None)
    assert containers.exposure([listener('0.0.0.0')], unasked) == (True, ['container network 0.0.0.0:8000'])
    assert containers.exposure([listener('127.0.0.1')], unasked) == (False, [])


def test_probe_listeners_are_the_published_host_ports():
    found = context(ports={'8000/tcp': [{'HostIp': '127.0.0.1', 'HostPort': '18123'}], '22/tcp': [{'HostIp': '', 'HostPort': '2222'}]})
    assert containers.probe_listeners([listener('0.0.0.0')], found) == [{'address': '127.0.0.1', 'port': 18123, 'loopback': True}]
    assert containers.probe_listeners([listener('127.0.0.1')], found) == []


@pytest.mark.parametrize('path, expected', [
    ('/models/tiny.gguf', '/srv/models/llama/tiny.gguf'), ('/models', '/srv/models/llama'),
    ('/modelsx/a', None), ('facebook/opt-125m', None), (None, None)])
def test_host_path_through_the_mounts(path, expected):
    assert containers.host_path(context(), path) == expected


@pytest.mark.parametrize('labels, image, expected', [
    ({'org.opencontainers.image.version': '0.6.3'}, 'vllm/vllm-openai:v0.6.4', ('0.6.3', 'image-label:org.opencontainers.image.version')),
    ({}, 'docker.io/vllm/vllm-openai:v0.6.4', ('v0.6.4', 'image-tag:docker.io/vllm/vllm-openai:v0.6.4')),
    ({}, 'registry:5000/vllm', (None, None)), ({}, 'vllm:latest', (None, None))])
def test_image_version(labels, image, expected):
    assert containers.image_version(context(labels=labels, ImageName=image)) == expected


def container_cgroup(container_id=ID):
    return '0::/libpod_parent/libpod-%s\n' % container_id


@pytest.fixture
def proc(tmp_path):
    return FakeProc(tmp_path / 'proc')


@pytest.fixture
def runtime(monkeypatch):
    """The runtime's answers (a unit test fakes this boundary); calls records each inspect."""
    calls, answers = [], {ID: record(ports={'8000/tcp': [{'HostIp': '', 'HostPort': '18124'}]})}

    def inspect(name, ids, timeout=None, binaries=None):
        calls.append((name, sorted(ids)))
        return dict((one, answers[one]) for one in ids if one in answers), [
            '%s does not know container %s' % (name, one[:12]) for one in ids if one not in answers]
    monkeypatch.setattr(container_runtime, 'inspect', inspect)
    return calls, answers


def other_netns(tmp_path):
    path = tmp_path / 'netns'
    path.write_text('')
    return str(path)


def discover(proc, options):
    assets, problems = discovery.discover_servers(proc.root, 'node1', 'mid-1', containers=containers.index_of(options))
    for asset in assets:
        validate(asset, 'asset.v1.json')
    return assets, problems


def test_a_server_in_a_container_is_exposed_through_its_published_port(proc, runtime, tmp_path):
    proc.add(100, VLLM, env={}, sockets=[(5001, '0.0.0.0', 8000)], cgroup=container_cgroup(), netns=other_netns(tmp_path))
    proc.add(101, VLLM, ppid=100, cgroup=container_cgroup(), netns=other_netns(tmp_path))  # a worker: same container
    options = {'proc_root': proc.root, 'container_context': True}
    [asset], problems = discover(proc, options)
    attributes = asset['attributes']
    assert problems == [] and runtime[0] == [('podman', [ID])]  # asked once
    assert attributes['exposed'] is True and attributes['exposed_by'] == ['0.0.0.0:18124->8000/tcp']
    assert attributes['container']['name'] == 'aigov-probe20b'
    assert attributes['container']['model_host_path'] == '/srv/models/llama/tiny.gguf'
    assert (attributes['version'], attributes['version_source']) == ('0.6.3', 'image-label:org.opencontainers.image.version')
    assert {'type': 'socket', 'pid': 100, 'address': '0.0.0.0', 'port': 18124, 'published_to': 8000,
            'container': 'aigov-probe20b'} in asset['evidence']
    # published on loopback only: not exposed, whatever it binds inside
    runtime[1][ID] = record(ports={'8000/tcp': [{'HostIp': '127.0.0.1', 'HostPort': '18123'}]})
    [again], _problems = discover(proc, {'proc_root': proc.root, 'container_context': True})
    assert (again['attributes']['exposed'], again['attributes']['exposed_by']) == (False, [])
    assert again['id'] == asset['id']  # the container's name, not its inside port, identifies it


def test_without_container_context_nothing_is_asked(proc, runtime, tmp_path):
    proc.add(100, VLLM, env={}, sockets=[(5001, '0.0.0.0', 8000)], cgroup=container_cgroup(), netns=other_netns(tmp_path))
    [asset], _problems = discover(proc, {'proc_root': proc.root})
    assert runtime[0] == [] and 'container' not in asset['attributes'] and asset['attributes']['exposed'] is True


def test_a_runtime_that_cannot_say_is_a_problem_and_the_server_is_still_reported(proc, runtime, tmp_path):
    other = 'c' * 64
    proc.add(100, VLLM, env={}, sockets=[(5001, '0.0.0.0', 8000)], cgroup=container_cgroup(other), netns=other_netns(tmp_path))
    [asset], problems = discover(proc, {'proc_root': proc.root, 'container_context': True})
    assert problems == ['model_server: podman does not know container %s' % other[:12]]
    assert asset['attributes']['container']['inspected'] is False and asset['attributes']['exposed'] is True


def test_rootless_containers_are_not_asked_about(proc, runtime, tmp_path):
    cgroup = '0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-%s.scope\n' % ID
    proc.add(100, VLLM, env={}, uid=1000, sockets=[(5001, '0.0.0.0', 8000)], cgroup=cgroup, netns=other_netns(tmp_path))
    [asset], problems = discover(proc, {'proc_root': proc.root, 'container_context': True})
    assert runtime[0] == [] and asset['attributes']['container']['rootless'] is True
    assert problems == ['model_server: podman container %s is rootless (a user\'s): its runtime was not asked; no name, '
                        'image or published ports' % ID[:12]]


def test_model_files_under_a_serving_containers_mount_are_found_and_linked(proc, runtime, tmp_path):
    store = tmp_path / 'srv-models'
    store.mkdir()
    (store / 'tiny.gguf').write_bytes(b'GGUF' + b'\x03\x00\x00\x00' + b'\x00' * 16)
    runtime[1][ID]['Mounts'] = [{'Type': 'bind', 'Source': str(store), 'Destination': '/models', 'RW': False},
                                {'Type': 'bind', 'Source': '/etc', 'Destination': '/etc/host', 'RW': False}]
    proc.add(100, VLLM, env={}, sockets=[(5001, '0.0.0.0', 8000)], cgroup=container_cgroup(), netns=other_netns(tmp_path))
    options = {'proc_root': proc.root, 'container_context': True, 'artifact_roots': [], 'hash_cache': str(tmp_path / 'h.json')}
    assets, problems = artifact_discovery.discover_model_artifacts(options, 'node1', 'mid-1')
    assert [asset['attributes']['path'] for asset in assets] == [str(store / 'tiny.gguf')]  # /etc is no model store
    assert assets[0]['attributes']['containers'] == [{'runtime': 'podman', 'id': ID, 'name': 'aigov-probe20b',
                                                      'image': 'localhost/aigov-testhost:b5eec62e9ff6', 'path': '/models/tiny.gguf'}]
    validate(assets[0], 'asset.v1.json')
    # the model_server probe of the same run already asked: the artifact probe does not ask again
    discovery.discover_servers(proc.root, 'node1', 'mid-1', containers=containers.index_of(options))
    assert len(runtime[0]) == 1


def test_extra_roots_skip_what_the_configured_roots_cover():
    stores = [('/models/a', '/m', {}), ('/data/b', '/n', {}), ('/data/b/c', '/o', {})]
    assert container_artifacts.extra_roots(stores, ['/models']) == ['/data/b']
