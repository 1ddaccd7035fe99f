"""Containers are part of the estate, on real podman containers this test starts on the machine running it
(discovery of localhost, as root): vLLM-like servers published on loopback, on all addresses, and with host
networking; their exposure and findings; a model file mounted from the host linked to its container; a
restart and a rebind through podman by the real aigov.core.remediate playbook, verified from outside (podman
itself, and a client container that connects through the bridge the way a remote client would)."""

import datetime
import json
import os
import sys
import time

import pytest

from ansible_collections.aigov.core.plugins.module_utils.audit import audit_verify
from tests.contracts import validate
from tests.hosts import testhosts
from tests.integration.conftest import FAKE_SERVERS, Ansible, record_decision
from tests.integration.test_alert_chain import write
from tests.integration.test_remediation_rulebook import entries, no_freeze_policy
from tests.ports import free_port

PREFIX = 'aigov-ct%d' % os.getpid()
LABEL = 'aigov.test=' + PREFIX
GATEWAY = '10.88.0.1'  # podman's default bridge: what a client on the network reaches the host at
VLLM = ['python3', '-m', 'vllm.entrypoints.openai.api_server', '--host', '0.0.0.0']
GGUF = b'GGUF' + (3).to_bytes(4, 'little') + bytes(16)


def podman(*args, check=True, timeout=120):
    return testhosts.podman(list(args), timeout=timeout, check=check)


def inspect(name):
    return json.loads(podman('container', 'inspect', name).stdout)[0]


def from_client(port):
    """True when the client container (another network namespace, on the bridge) connects to the host's port."""
    script = 'import socket\ntry:\n socket.create_connection(("%s", %d), timeout=2).close(); print("open")\n' \
             'except OSError as e: print(e)' % (GATEWAY, port)
    return podman('exec', PREFIX + '-client', 'python3', '-c', script).stdout.strip() == 'open'


def wait_local(port, timeout=30):
    import socket
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(('127.0.0.1', port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError('nothing answers on 127.0.0.1:%d' % port)


def start(name, image, args, command):
    podman('run', '-d', '--name', name, '--label', LABEL, '-v', '%s:/opt/fake:ro' % FAKE_SERVERS,
           '-e', 'PYTHONPATH=/opt/fake', *args, image, *command)


@pytest.fixture(scope='module')
def estate(tmp_path_factory):
    workdir = tmp_path_factory.mktemp('containers')
    image = testhosts.ensure_image()
    models = workdir / 'models'
    models.mkdir()
    os.chmod(workdir, 0o755)
    (models / 'tiny.gguf').write_bytes(GGUF)
    ports = dict(loop=free_port(), all=free_port(), host=free_port())
    try:
        start(PREFIX + '-loop', image, ['-p', '127.0.0.1:%d:8000' % ports['loop'], '-v', '%s:/models:ro' % models],
              VLLM + ['--model', '/models/tiny.gguf', '--port', '8000'])
        start(PREFIX + '-all', image, ['-p', '%d:8000' % ports['all'], '--label', 'org.opencontainers.image.version=0.6.3'],
              VLLM + ['--model', 'facebook/opt-125m', '--port', '8000'])
        start(PREFIX + '-host', image, ['--network', 'host'], VLLM + ['--model', 'facebook/opt-125m', '--port', str(ports['host'])])
        start(PREFIX + '-client', image, [], ['sleep', 'infinity'])
        for port in ports.values():
            wait_local(port)
        inventory = workdir / 'hosts.yml'
        inventory.write_text('all:\n  hosts:\n    localhost:\n      ansible_connection: local\n'
                             '      ansible_python_interpreter: %s\n' % sys.executable)
        yield dict(ports=ports, models=str(models), inventory=str(inventory), workdir=workdir)
    finally:
        for name in podman('ps', '-a', '-q', '--filter', 'label=' + LABEL, check=False).stdout.split():
            podman('rm', '--force', '--time', '0', name, check=False)


@pytest.fixture(scope='module')
def runner(ansible):
    """The ansible CLIs with the project's containers.conf, as a host's own would be (runc, no default ulimits)."""
    testhosts.podman(['--version'])  # writes the containers.conf
    return Ansible(dict(ansible.env, CONTAINERS_CONF=str(testhosts.cache_dir() / 'containers.conf')))


def facts(runner, inventory, **args):
    args = dict({'probes': ['model_server', 'model_artifact'], 'artifact_roots': [], 'hash_cache': '/tmp/%s-hashes.json' % PREFIX},
                **args)
    proc = runner.run('ansible', '-i', inventory, 'localhost', '-m', 'aigov.core.ai_asset_facts', '-a', json.dumps(args))
    assert proc.returncode == 0, proc.stdout[-3000:]
    found = json.loads(proc.stdout[proc.stdout.index('{'):])['ansible_facts']
    for asset in found['ai_assets']:
        validate(asset, 'asset.v1.json')
    return found


def mine(found, kind='model_server'):
    """My containers' assets by the container's role (loop, all, host)."""
    assets = {}
    for asset in found['ai_assets']:
        if asset['kind'] == kind == 'model_server':
            name = (asset['attributes'].get('container') or {}).get('name') or ''
            if name.startswith(PREFIX + '-'):
                assets[name[len(PREFIX) + 1:]] = asset
        elif asset['kind'] == kind:
            for container in asset['attributes'].get('containers') or []:
                if (container['name'] or '').startswith(PREFIX + '-'):
                    assets[container['name'][len(PREFIX) + 1:]] = asset
    return assets


def test_exposure_is_the_path_in_and_the_mounted_model_is_linked(runner, estate):
    ports = estate['ports']
    found = facts(runner, estate['inventory'])
    servers = mine(found)
    assert sorted(servers) == ['all', 'host', 'loop']
    loop, every, host = (servers[key]['attributes'] for key in ('loop', 'all', 'host'))
    # listens on 0.0.0.0 inside its namespace, published on the host's loopback only: not exposed
    assert loop['listeners'] == [{'address': '0.0.0.0', 'port': 8000, 'loopback': False}]
    assert (loop['exposed'], loop['exposed_by']) == (False, [])
    assert loop['container']['runtime'] == 'podman' and loop['container']['image'].startswith(testhosts.IMAGE_NAME)
    assert loop['container']['ports'] == [{'host_ip': '127.0.0.1', 'host_port': ports['loop'], 'container_port': 8000,
                                           'protocol': 'tcp'}]
    assert loop['container']['model_host_path'] == os.path.join(estate['models'], 'tiny.gguf')
    # published on every address: exposed, and by which mapping
    assert (every['exposed'], every['exposed_by']) == (True, ['0.0.0.0:%d->8000/tcp' % ports['all']])
    assert (every['version'], every['version_source']) == ('0.6.3', 'image-label:org.opencontainers.image.version')
    # host networking: its own listener is the way in
    assert host['container']['host_network'] is True
    assert (host['exposed'], host['exposed_by']) == (True, ['host network 0.0.0.0:%d' % ports['host']])
    # the same verdicts from outside: a client on the bridge reaches the published-on-all and host-network servers only
    assert (from_client(ports['loop']), from_client(ports['all']), from_client(ports['host'])) == (False, True, True)
    # the model file mounted from the host, found at its host path and linked to the container serving it
    artifacts = mine(found, 'model_artifact')
    assert artifacts['loop']['attributes']['path'] == os.path.join(estate['models'], 'tiny.gguf')
    [link] = artifacts['loop']['attributes']['containers']
    assert (link['name'], link['path'], link['id']) == (PREFIX + '-loop', '/models/tiny.gguf', inspect(PREFIX + '-loop')['Id'])


def test_the_http_probe_asks_the_published_port(runner, estate):
    servers = mine(facts(runner, estate['inventory'], probes=['model_server'], http_probe=True, http_timeout=3))
    loop = servers['loop']['attributes']['http']
    assert loop['skipped'] is None and loop['endpoint'] == 'http://127.0.0.1:%d' % estate['ports']['loop']
    assert (loop['models'], loop['auth_observed']) == (['/models/tiny.gguf'], 'not_required')


def test_findings_name_the_exposing_mapping(runner, estate):
    playbook = estate['workdir'] / 'check.yml'
    playbook.write_text(
        '- hosts: localhost\n  gather_facts: false\n  tasks:\n'
        '    - aigov.core.ai_asset_facts: {probes: [model_server]}\n'
        '    - aigov.core.ai_policy_check: {assets: "{{ ansible_facts.ai_assets }}"}\n      register: check\n'
        '    - ansible.builtin.copy: {content: "{{ check.findings | to_json }}", dest: "%s"}\n' % (estate['workdir'] / 'f.json'))
    proc = runner.playbook('-i', estate['inventory'], str(playbook))
    assert proc.returncode == 0, proc.stdout[-3000:]
    findings = json.loads((estate['workdir'] / 'f.json').read_text())
    servers = dict((asset['id'], key) for key, asset in mine(facts(runner, estate['inventory'], probes=['model_server'])).items())
    exposed = [f for f in findings if f['rule_id'] == 'AIGOV-MS-001' and f['asset_id'] in servers]
    assert sorted(servers[f['asset_id']] for f in exposed) == ['all', 'host']
    [every] = [f for f in exposed if servers[f['asset_id']] == 'all']
    assert {'type': 'socket', 'address': '0.0.0.0', 'port': estate['ports']['all'], 'published_to': 8000,
            'container': PREFIX + '-all'}.items() <= next(e for e in every['evidence'] if 'published_to' in e).items()


def remediate(runner, estate, key, alertname, tmp_path):
    """Discover into a store, record the source's automate decision, run aigov.core.remediate; return (proc, log)."""
    store, log = str(tmp_path / 'assets.sqlite3'), str(tmp_path / 'audit.jsonl')
    registry = write(tmp_path / 'registry.yml', {'schema_version': 1, 'use_cases': [
        {'id': 'lab-llm', 'risk_tier': 'minimal', 'owners': {'decision': 'lab-team'}, 'assets': [{'container': PREFIX + '-*'}]}]})
    proc = runner.playbook('-i', estate['inventory'], 'aigov.core.discover', '-e', 'aigov_store_path=%s' % store,
                           '-e', 'aigov_registry=%s' % registry, '-e', '{"aigov_probes": ["model_server"]}')
    assert proc.returncode == 0, proc.stdout[-3000:]
    asset_id = mine(facts(runner, estate['inventory'], probes=['model_server']))[key]['id']
    event = {'alert': {'fingerprint': 'ct-' + key, 'name': alertname, 'status': 'firing'},
             'asset': {'known': True, 'asset_id': asset_id, 'inventory_hostname': 'localhost'},
             'decision': {'decision': 'automate', 'accountable': 'lab-team', 'reasons': ['minimal']},
             'meta': {'received_at': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}}
    payload = record_decision(log, event, runner.env)
    args = ['-i', estate['inventory'], 'aigov.core.remediate', '-e', 'aigov_event_payload=%s' % payload,
            '-e', 'aigov_audit_log=%s' % log, '-e', 'aigov_store_path=%s' % store,
            '-e', 'aigov_guardrails=%s' % no_freeze_policy(tmp_path / 'guardrails.yml')]
    return args, log


def outcome(log):
    return [(e['action'], e['outcome'], e['details'].get('remediation')) for e in entries(log)]


def test_restart_through_podman(runner, estate, tmp_path):
    name = PREFIX + '-loop'
    before = inspect(name)['State']
    args, log = remediate(runner, estate, 'loop', 'ModelServerUnhealthy', tmp_path)
    check = runner.playbook(*(args + ['--check']), cwd=str(tmp_path))
    assert check.returncode == 0, check.stdout[-3000:]
    assert inspect(name)['State']['StartedAt'] == before['StartedAt']  # check mode: nothing restarted
    run = runner.playbook(*args, cwd=str(tmp_path))
    assert run.returncode == 0, run.stdout[-3000:]
    after = inspect(name)['State']
    assert after['Running'] and after['StartedAt'] != before['StartedAt'] and after['Pid'] != before['Pid']
    wait_local(estate['ports']['loop'])
    assert outcome(log)[1:] == [('remediation.start', 'planned', 'restart_model_server'),
                                ('remediation.outcome', 'success', 'restart_model_server')]
    assert 'container %s restarted through podman' % name in entries(log)[-1]['reasons'][0]
    assert audit_verify.verify(log)['ok']


def test_rebind_through_podman_publishes_on_loopback(runner, estate, tmp_path):
    name, port = PREFIX + '-all', estate['ports']['all']
    old = inspect(name)
    assert from_client(port)
    args, log = remediate(runner, estate, 'all', 'ModelServerExposed', tmp_path)
    check = runner.playbook(*(args + ['--check', '--diff']), cwd=str(tmp_path))
    assert check.returncode == 0 and '127.0.0.1:%d->8000/tcp' % port in check.stdout, check.stdout[-3000:]
    assert inspect(name)['Id'] == old['Id'] and from_client(port)  # check mode: nothing re-created
    run = runner.playbook(*args, cwd=str(tmp_path))
    assert run.returncode == 0, run.stdout[-3000:]
    new = inspect(name)
    assert new['Id'] != old['Id'] and new['NetworkSettings']['Ports'] == {'8000/tcp': [{'HostIp': '127.0.0.1', 'HostPort': str(port)}]}
    assert new['Config']['Labels'] == old['Config']['Labels'] and new['ImageName'] == old['ImageName']
    wait_local(port)
    assert not from_client(port), 'the server is still reached from the network'
    assert podman('container', 'exists', old['Id'], check=False).returncode != 0  # the replaced container is gone
    assert outcome(log)[1:] == [('remediation.start', 'planned', 'rebind_loopback'),
                                ('remediation.outcome', 'success', 'rebind_loopback')]
    note = entries(log)[-1]['reasons'][0]
    assert '127.0.0.1:%d->8000/tcp published (was 0.0.0.0:%d->8000/tcp)' % (port, port) in note
    assert audit_verify.verify(log)['ok']
    # a second rebind finds nothing to change
    servers = mine(facts(runner, estate['inventory'], probes=['model_server']))
    assert (servers['all']['attributes']['exposed'], servers['all']['attributes']['exposed_by']) == (False, [])
