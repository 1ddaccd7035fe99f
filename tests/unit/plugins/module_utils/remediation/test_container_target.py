"""A containerised server is restarted, stopped and rebound through its runtime (the runtime's CLI is faked
here; tests/integration/test_containers.py drives real podman)."""

import copy
import json
import os

import pytest

from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.host import container_runtime
from ansible_collections.aigov.core.plugins.module_utils.remediation import container_rebind, container_target
from ansible_collections.aigov.core.plugins.module_utils.remediation import service_config as sc

from ..fakeproc import FakeProc

ROOT = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', '..')
with open(os.path.join(ROOT, 'tests', 'fixtures', 'containers', 'podman_inspect.json')) as _handle:
    RECORD = json.load(_handle)[0]
ID, NEW = RECORD['Id'], 'f' * 64
IMAGE = {'localhost/aigov-testhost:b5eec62e9ff6', 'aigov-testhost:b5eec62e9ff6'}
RUN = ['podman', 'run', '-d', '--name', 'web', '-e', 'VLLM_API_KEY=sk-never-shown-1234', '-p', '18124:8000',
       'localhost/aigov-testhost:b5eec62e9ff6', 'python3', '-m', 'server', '-p', '9']


@pytest.mark.parametrize('argv, expected', [
    (RUN, ['run', '-d', '--name', 'web', '-e', 'VLLM_API_KEY=sk-never-shown-1234', '-p', '127.0.0.1:18124:8000',
           'localhost/aigov-testhost:b5eec62e9ff6', 'python3', '-m', 'server', '-p', '9']),  # the server's own -p is its own
    (['/usr/bin/podman', 'container', 'run', '--publish=0.0.0.0:1:2/tcp', '-p', '[::]:3:4', '-p', '127.0.0.1:5:6',
      '-p', '7', 'aigov-testhost:b5eec62e9ff6'],
     ['container', 'run', '-d', '--name', 'web', '--publish=127.0.0.1:1:2/tcp', '-p', '127.0.0.1:3:4', '-p', '127.0.0.1:5:6',
      '-p', '127.0.0.1::7', 'aigov-testhost:b5eec62e9ff6']),
    (['podman', 'create', '--name=web', '-p', '192.0.2.1:8:9', 'aigov-testhost:b5eec62e9ff6'],
     ['create', '--name=web', '-p', '127.0.0.1:8:9', 'aigov-testhost:b5eec62e9ff6']),
    (['podman', 'run', '-dt', '--name', 'web', '-p', '8:9', 'aigov-testhost:b5eec62e9ff6'],
     ['run', '-dt', '--name', 'web', '-p', '127.0.0.1:8:9', 'aigov-testhost:b5eec62e9ff6']),
])
def test_the_create_command_is_published_on_loopback(argv, expected):
    assert container_target.rewrite_create_command(argv, IMAGE, 'web')[0] == expected


@pytest.mark.parametrize('argv, error', [
    (['docker', 'run', '-p', '1:2', 'aigov-testhost:b5eec62e9ff6'], 'not created by the podman CLI'),
    (['podman', 'kube', 'play', 'x.yml'], 'is not podman run or create'),
    (['podman', 'run', '-P', 'aigov-testhost:b5eec62e9ff6'], 'publishes every port'),
    (['podman', 'run', '--network', 'host', 'aigov-testhost:b5eec62e9ff6'], 'host networking'),
    (['podman', 'run', '--net=host', 'aigov-testhost:b5eec62e9ff6'], 'host networking'),
    (['podman', 'run', '-p', '1:2', 'other:image'], 'does not name its image'),
    ([], 'not created by the podman CLI'),
])
def test_what_cannot_be_re_created_is_refused(argv, error):
    with pytest.raises(AigovError, match=error):
        container_target.rewrite_create_command(argv, IMAGE, 'web')


def test_plan_ports_are_the_published_host_ports():
    listeners = [{'address': '0.0.0.0', 'port': 8000, 'loopback': False}]
    container = {'id': ID, 'inspected': True, 'host_network': False, 'network_mode': 'bridge',
                 'ports': [{'host_ip': '0.0.0.0', 'host_port': 18124, 'container_port': 8000, 'protocol': 'tcp'}]}
    assert container_target.plan_ports(listeners, container) == [18124]
    assert container_target.plan_ports(listeners, dict(container, host_network=True)) == [8000]
    assert container_target.plan_ports(listeners, None) == [8000]
    assert container_target.plan_container(dict(container, name='web', runtime='podman')) == {
        'runtime': 'podman', 'id': ID, 'name': 'web'}


@pytest.fixture
def podman(monkeypatch):
    """A fake podman: inspect answers from `records`, every other call is recorded and answered by `answer`."""
    state = {'records': {ID: copy.deepcopy(RECORD)}, 'calls': [], 'fail': set()}

    def inspect(runtime, ids, timeout=None, binaries=None):
        return dict((one, state['records'][one]) for one in ids if one in state['records']), []

    def run(argv, timeout=None, env=None):
        state['calls'].append(argv[1:])
        verb = argv[1]
        if verb in state['fail']:
            return 125, '', 'Error: port already in use (VLLM_API_KEY=sk-never-shown-1234)'
        if verb == 'container':  # container exists
            return (0 if argv[3] in (ID, 'web') and ID in state['records'] else 1), '', ''
        if verb == 'run':
            record = copy.deepcopy(RECORD)
            record['Id'] = NEW
            record['NetworkSettings']['Ports'] = {'8000/tcp': [{'HostIp': '127.0.0.1', 'HostPort': '18124'}]}
            state['records'][NEW] = record
            return 0, NEW + '\n', ''
        return 0, '', ''
    monkeypatch.setattr(container_runtime, 'inspect', inspect)
    monkeypatch.setattr(container_runtime, 'run', run)
    monkeypatch.setattr(container_runtime, 'trusted_binary', lambda runtime, candidates=None: ('/usr/bin/podman', None))
    return state


def test_a_running_containerised_server_is_restarted_through_podman(podman, tmp_path):
    proc = FakeProc(tmp_path)
    proc.add(100, ['python3', '-m', 'vllm'], cgroup='0::/libpod_parent/libpod-%s\n' % ID)
    server = {'name': 'vllm', 'pids': [100], 'start_times': {'100': 1100}}
    location = sc.locate(server, {}, proc.root)
    assert location['source'] == 'container' and location['key'] == 'aigov-probe20b'
    assert location['restart_commands'] == [['/usr/bin/podman', 'restart', '--time', '10', ID]]
    assert location['stop_commands'] == [['/usr/bin/podman', 'stop', '--time', '10', ID]]
    assert location['container']['published'] == ['0.0.0.0:18124->8000/tcp']
    # a reused pid is another process: nothing is located through it
    location = sc.locate(dict(server, start_times={'100': 7}), {}, proc.root)
    assert location['source'] == 'none' and 'reused the pid' in location['problem']


def test_a_server_that_is_down_is_restarted_through_the_container_discovery_saw(podman, tmp_path):
    proc = FakeProc(tmp_path)
    server = {'name': 'vllm', 'pids': [100], 'start_times': {'100': 1100},
              'container': {'runtime': 'podman', 'id': ID, 'name': 'aigov-probe20b'}}
    assert sc.locate(server, {}, proc.root)['restart_commands'] == [['/usr/bin/podman', 'restart', '--time', '10', ID]]
    renamed = dict(server, container=dict(server['container'], name='someone-else'))
    assert 'named aigov-probe20b now, not someone-else' in sc.locate(renamed, {}, proc.root)['problem']
    assert sc.locate(dict(server, container={'runtime': 'podman', 'id': '../x'}), {}, proc.root)['source'] == 'none'


def test_a_unit_managed_container_is_acted_on_through_its_unit(podman, tmp_path):
    podman['records'][ID]['Config']['Labels'] = {'PODMAN_SYSTEMD_UNIT': 'vllm.service'}
    server = {'name': 'vllm', 'pids': [], 'container': {'runtime': 'podman', 'id': ID}}
    location = sc.locate(server, {}, str(tmp_path))
    assert location['restart_commands'] == [['systemctl', 'restart', 'vllm.service']] and location['unit'] == 'vllm.service'
    with pytest.raises(AigovError, match='managed by unit vllm.service'):
        container_rebind.ensure_loopback(location)
    podman['records'][ID]['Config']['Labels'] = {'PODMAN_SYSTEMD_UNIT': 'x; rm -rf /'}
    assert 'not a systemd service name' in sc.locate(server, {}, str(tmp_path))['problem']


def test_rebind_predicts_in_check_mode_then_re_creates_on_loopback(podman, tmp_path):
    location = sc.locate({'name': 'vllm', 'pids': [], 'container': {'runtime': 'podman', 'id': ID}}, {}, str(tmp_path))
    changed, result = container_rebind.ensure_loopback(location, check_mode=True)
    assert changed and result['published_after'] == ['127.0.0.1:18124->8000/tcp'] and podman['calls'] == []
    changed, result = container_rebind.ensure_loopback(location)
    assert changed and result == {'container': {'runtime': 'podman', 'id': NEW, 'name': 'aigov-probe20b'}, 'replaced': ID,
                                  'published_before': ['0.0.0.0:18124->8000/tcp'], 'published_after': ['127.0.0.1:18124->8000/tcp']}
    verbs = [call[0] for call in podman['calls']]
    assert verbs == ['stop', 'container', 'rename', 'run', 'rm']
    assert podman['calls'][3][podman['calls'][3].index('-p') + 1] == '127.0.0.1:18124:8000'
    assert 'sk-never-shown' not in json.dumps(result)
    # published on loopback only now: nothing to do
    again = dict(location, container=dict(location['container'], id=NEW))
    assert container_rebind.ensure_loopback(again)[0] is False


def test_a_failed_re_creation_puts_the_old_container_back(podman, tmp_path):
    podman['fail'].add('run')
    location = sc.locate({'name': 'vllm', 'pids': [], 'container': {'runtime': 'podman', 'id': ID}}, {}, str(tmp_path))
    with pytest.raises(AigovError) as caught:
        container_rebind.ensure_loopback(location)
    assert 'the old container was put back' in str(caught.value) and 'sk-never-shown' not in str(caught.value)
    assert [call[:2] for call in podman['calls'][-2:]] == [['rename', ID], ['start', ID]]


def test_docker_and_host_networking_are_refused(podman, tmp_path):
    with pytest.raises(AigovError, match='docker cannot change the ports'):
        container_rebind.ensure_loopback({'container': {'runtime': 'docker', 'id': ID}, 'unit': None})
    podman['records'][ID]['HostConfig']['NetworkMode'] = 'host'
    with pytest.raises(AigovError, match='host networking'):
        container_rebind.ensure_loopback({'container': {'runtime': 'podman', 'id': ID}, 'unit': None})


def test_acting_from_inside_the_servers_own_container_is_not_acting_on_a_container(podman, tmp_path):
    proc = FakeProc(tmp_path)
    proc.add(100, ['python3', '-m', 'vllm'], cgroup='0::/libpod_parent/libpod-%s\n' % ID)
    (tmp_path / 'self' / 'cgroup').write_text('0::/libpod_parent/libpod-%s\n' % ID)  # a container host reached over SSH
    location = sc.locate({'name': 'vllm', 'pids': [100], 'start_times': {'100': 1100}}, {}, proc.root)
    assert location['source'] == 'none' and 'not under system.slice' in location['problem'] and podman['calls'] == []
