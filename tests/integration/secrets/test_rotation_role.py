"""aigov.core.rotate_agent_secrets (the agent_secret_rotation role) end to end: 3 agents on 2 real container hosts, real OpenBao, real ansible-playbook -vvv.

Agents are small HTTP services that answer 200 only with their key. Checks go
around the role: the KV through the independent reader, the hosts through
podman exec, the agents through their own HTTP answer.
"""

import json
import os
import re
import sys

import pytest

from ansible_collections.aigov.core.plugins.module_utils.audit_verify import verify
from ansible_collections.aigov.core.plugins.module_utils.fingerprints import DEFAULT_FINGERPRINT_KEY, fingerprint
from tests.conftest import ROOT
from tests.hosts import testhosts
from tests.integration.conftest import Ansible
from tests.integration.secrets.openbao import free_port

AGENT_SERVICE = os.path.join(ROOT, 'tests', 'fixtures', 'agent_service')
# Asks the agent on this host, with the key from the environment (never argv or output): prints the status.
ASK = ('import os,sys,urllib.request,urllib.error\n'
       'req=urllib.request.Request("http://127.0.0.1:%s/" % sys.argv[1], headers={"Authorization": "Bearer "+os.environ["K"]})\n'
       'try:\n    print(urllib.request.urlopen(req, timeout=5).status)\n'
       'except urllib.error.HTTPError as e:\n    print(e.code)\n')


def fp(value):
    return fingerprint(value, DEFAULT_FINGERPRINT_KEY)


@pytest.fixture(scope='module')
def estate(tmp_path_factory, openbao, ansible_env):
    workdir = tmp_path_factory.mktemp('rotation')
    with testhosts.test_hosts(2, 'aigov-rot-%d' % os.getpid(), str(workdir)) as hosts:
        for host in hosts:
            testhosts.run_in(host, ['mkdir', '-p', '/opt/agent'])
            testhosts.copy_into(host, os.path.join(AGENT_SERVICE, 'agent.py'), '/opt/agent/agent.py')
            testhosts.copy_into(host, os.path.join(AGENT_SERVICE, 'agent-restart'), '/usr/local/bin/agent-restart')
        inventory = json.loads(testhosts.write_inventory(hosts, workdir / 'hosts.json').read_text())
        inventory['all']['hosts'] = {'localhost': {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}}
        (workdir / 'inventory.json').write_text(json.dumps(inventory))
        placement = [('rot-1', hosts[0], 9000), ('rot-2', hosts[0], 9001), ('rot-3', hosts[1], 9000)]
        agents = [dict(name=name, owner='team-%s' % name, host=host.name, env_file='/etc/%s/env' % name, env_var='AGENT_KEY',
                       restart_command=['/usr/local/bin/agent-restart', name, str(port)], prefix='sk-agent-',
                       verify_url='http://127.0.0.1:%d/' % port) for name, host, port in placement]
        for name, host, _port in placement:
            testhosts.run_in(host, ['mkdir', '-p', '/etc/%s' % name])
        env = dict(ansible_env, BAO_ADDR=openbao.url, BAO_TOKEN=openbao.root_token)
        yield dict(workdir=workdir, hosts=hosts, placement=placement, agents=agents, ansible=Ansible(env),
                   audit=str(workdir / 'audit.jsonl'))


def rotate(estate, force=(), flags=(), backend=None):
    extra = dict(agent_secret_rotation_agents=estate['agents'], agent_secret_rotation_force=list(force),
                 agent_secret_rotation_audit_log=estate['audit'], agent_secret_rotation_verify_retries=15,
                 agent_secret_rotation_backend=backend or {})
    (estate['workdir'] / 'vars.json').write_text(json.dumps(extra))
    return estate['ansible'].playbook('-vvv', '-i', estate['workdir'] / 'inventory.json', 'aigov.core.rotate_agent_secrets',
                                      '-e', '@%s' % (estate['workdir'] / 'vars.json'), *flags)


def on_host(estate, name):
    """(fingerprint of the key in the agent's env file, status the agent answers to the backend's current value)."""
    _name, host, port = next(p for p in estate['placement'] if p[0] == name)
    content = testhosts.run_in(host, ['cat', '/etc/%s/env' % name]).stdout.strip()
    return fp(content.split('=', 1)[1]) if '=' in content else None, port, host


def answers(host, port, value):
    return testhosts.run_in(host, ['python3', '-c', ASK, str(port)], env={'K': value}).stdout.strip()


def check_agent(estate, kv, name):
    """The agent's file and the agent itself hold the backend's current value; return that value's fingerprint."""
    value, _version = kv.read('agents/%s' % name)
    file_fp, port, host = on_host(estate, name)
    current_fp = fp(value)
    assert file_fp == current_fp, name
    assert answers(host, port, value) == '200' and answers(host, port, 'wrong-key') == '401', name
    return current_fp


def test_first_run_creates_delivers_and_verifies_every_agent(estate, kv):
    proc = rotate(estate)
    assert proc.returncode == 0, proc.stdout[-3000:]
    for name, _host, _port in estate['placement']:
        assert kv.current_version('agents/%s' % name) == 1
        check_agent(estate, kv, name)
    entries = [json.loads(line) for line in open(estate['audit'])]
    assert sorted((e['subject'], e['owner'], e['outcome']) for e in entries) == \
        [('rot-%d' % n, 'team-rot-%d' % n, 'success') for n in (1, 2, 3)]


def test_second_run_changes_nothing(estate, kv):
    proc = rotate(estate)
    assert proc.returncode == 0, proc.stdout[-3000:]
    recap = proc.stdout[proc.stdout.index('PLAY RECAP'):]
    assert re.findall(r'changed=(\d+)', recap) == ['0'] and 'failed=0' in recap
    assert [kv.current_version('agents/%s' % p[0]) for p in estate['placement']] == [1, 1, 1]


def test_check_mode_changes_nothing(estate, kv):
    files = [on_host(estate, p[0])[0] for p in estate['placement']]
    entries = len(open(estate['audit']).readlines())
    proc = rotate(estate, force=['rot-2'], flags=('--check', '--diff'))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert [kv.current_version('agents/%s' % p[0]) for p in estate['placement']] == [1, 1, 1]
    assert [on_host(estate, p[0])[0] for p in estate['placement']] == files
    assert len(open(estate['audit']).readlines()) == entries


def test_forced_rotation_of_one_agent(estate, kv):
    before = fp(kv.read('agents/rot-2')[0])
    proc = rotate(estate, force=['rot-2'])
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert kv.current_version('agents/rot-2') == 2 and check_agent(estate, kv, 'rot-2') != before
    assert [kv.current_version('agents/%s' % n) for n in ('rot-1', 'rot-3')] == [1, 1]


def test_failed_verification_rolls_back_everywhere(estate, kv):
    old_fp = fp(kv.read('agents/rot-3')[0])
    _name, host, _port = estate['placement'][2]
    testhosts.run_in(host, ['touch', '/etc/rot-3/frozen'])  # its restart now keeps the old key
    try:
        proc = rotate(estate, force=['rot-3'])
    finally:
        testhosts.run_in(host, ['rm', '-f', '/etc/rot-3/frozen'])
    assert proc.returncode == 2
    assert 'agent rot-3: the new secret (version 2' in proc.stdout and 'rolled back' in proc.stdout
    # The backend's current version (3) holds the old value again; file and agent agree with it.
    assert kv.current_version('agents/rot-3') == 3 and fp(kv.read('agents/rot-3')[0]) == old_fp
    assert check_agent(estate, kv, 'rot-3') == old_fp
    last = [json.loads(line) for line in open(estate['audit'])][-2:]
    assert [(e['subject'], e['details']['new_version']) for e in last] == [('rot-3', 2), ('rot-3', 3)]
    assert 'forced rotation (agent_secret_rotation_force)' in last[0]['reasons']
    assert last[1]['reasons'][-1] == 'rollback: version 2 failed delivery or verification; restoring the value of version 1'


def test_run_killed_after_the_backend_write_converges(estate, kv):
    # As if a run wrote version 2 and died before delivering it: the agent still holds version 1.
    kv.write('agents/rot-1', 'sk-agent-ORPHANEDversion0123456789abcd')
    file_fp, _port, _host = on_host(estate, 'rot-1')
    assert file_fp == fp(kv.read('agents/rot-1', 1)[0])
    proc = rotate(estate)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert kv.current_version('agents/rot-1') == 2 and check_agent(estate, kv, 'rot-1') == fp(kv.read('agents/rot-1')[0])
    proc = rotate(estate)
    recap = proc.stdout[proc.stdout.index('PLAY RECAP'):]
    assert proc.returncode == 0 and re.findall(r'changed=(\d+)', recap) == ['0']


def test_unreachable_backend_changes_nothing_anywhere(estate, kv):
    files = [on_host(estate, p[0])[0] for p in estate['placement']]
    versions = [kv.current_version('agents/%s' % p[0]) for p in estate['placement']]
    port = free_port()
    proc = rotate(estate, force=['rot-1'], backend={'url': 'http://127.0.0.1:%d' % port, 'timeout': 2})
    assert proc.returncode == 2
    assert 'agent rot-1: vault backend http://127.0.0.1:%d (mount secret), path agents/rot-1: unreachable' % port in proc.stdout
    assert [on_host(estate, p[0])[0] for p in estate['placement']] == files
    assert [kv.current_version('agents/%s' % p[0]) for p in estate['placement']] == versions


def test_no_secret_value_in_any_output(estate, kv):
    values = set()
    for name, _host, _port in estate['placement']:
        for version in range(1, kv.current_version('agents/%s' % name) + 1):
            values.add(kv.read('agents/%s' % name, version)[0])
    count = len(values)
    assert count >= 5
    haystacks = list(estate['ansible'].outputs) + [open(estate['audit']).read()]
    assert verify(estate['audit'])['ok']
    leaks = [value[:9] + '...' for value in values for text in haystacks if value in text]
    assert not leaks, 'secret values found in output or the audit log: %s' % leaks
