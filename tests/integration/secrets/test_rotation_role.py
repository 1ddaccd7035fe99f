"""aigov.core.rotate_agent_secrets (the agent_secret_rotation role) end to end: 4 agents on 2 real container hosts, real OpenBao, real ansible-playbook -vvv.

Agents are small HTTP services that answer 200 only with one of their keys.
Three are listed explicitly; the fourth (rot-4) is described by its host's
`aigov_agents` inventory variable, gets its owner from a registry, and has a
timed overlap window. Checks go around the role: the KV through the
independent reader, the hosts through podman exec, the agents through their
own HTTP answer, the audit log read as JSON.
"""

import concurrent.futures
import json
import os
import re
import subprocess
import sys
import time

import pytest

from ansible_collections.aigov.core.plugins.module_utils.audit.audit_verify import verify
from ansible_collections.aigov.core.plugins.module_utils.common.fingerprints import DEFAULT_FINGERPRINT_KEY, fingerprint
from tests.conftest import ROOT
from tests.hosts import testhosts
from tests.integration.conftest import Ansible
from tests.ports import free_port

OVERLAP_SECONDS = 25
OVERLAP = '%ds' % OVERLAP_SECONDS
REGISTRY = {'schema_version': 1, 'use_cases': [{
    'id': 'ticket-triage', 'risk_tier': 'high', 'owners': {'decision': 'team-triage', 'risk': 'security-office'},
    'assets': [{'kind': 'agent', 'name': 'rot-4'}]}]}
NAMES = ('rot-1', 'rot-2', 'rot-3', 'rot-4')
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
        # rot-4 is known only from the inventory: its host's aigov_agents (host implied), owner from the registry.
        rot4 = dict(name='rot-4', env_file='/etc/rot-4/env', env_var='AGENT_KEY', overlap=OVERLAP,
                    restart_command=['/usr/local/bin/agent-restart', 'rot-4', '9001'], prefix='sk-agent-',
                    verify_url='http://127.0.0.1:9001/')
        inventory = json.loads(testhosts.write_inventory(hosts, workdir / 'hosts.json',
                                                         hostvars={hosts[1].name: {'aigov_agents': [rot4]}}).read_text())
        inventory['all']['hosts'] = {'localhost': {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}}
        (workdir / 'inventory.json').write_text(json.dumps(inventory))
        (workdir / 'registry.yml').write_text(json.dumps(REGISTRY))
        placement = [('rot-1', hosts[0], 9000), ('rot-2', hosts[0], 9001), ('rot-3', hosts[1], 9000), ('rot-4', hosts[1], 9001)]
        agents = [dict(name=name, owner='team-%s' % name, host=host.name, env_file='/etc/%s/env' % name, env_var='AGENT_KEY',
                       restart_command=['/usr/local/bin/agent-restart', name, str(port)], prefix='sk-agent-',
                       verify_url='http://127.0.0.1:%d/' % port) for name, host, port in placement[:3]]
        agents[1]['overlap'] = True  # rot-2: the old key works until the new one verifies, then goes
        for name, host, _port in placement:
            testhosts.run_in(host, ['mkdir', '-p', '/etc/%s' % name])
        env = dict(ansible_env, BAO_ADDR=openbao.url, BAO_TOKEN=openbao.root_token)
        yield dict(workdir=workdir, hosts=hosts, placement=placement, agents=agents, ansible=Ansible(env),
                   audit=str(workdir / 'audit.jsonl'))


def rotate(estate, force=(), flags=(), backend=None, leaked=(), agents=None, name='vars', **more):
    extra = dict(agent_secret_rotation_agents=estate['agents'] if agents is None else agents, agent_secret_rotation_force=list(force),
                 agent_secret_rotation_leaked=list(leaked), agent_secret_rotation_audit_log=estate['audit'],
                 agent_secret_rotation_verify_retries=15, agent_secret_rotation_backend=backend or {},
                 agent_secret_rotation_registry=str(estate['workdir'] / 'registry.yml'),
                 agent_secret_rotation_lock_dir=str(estate['workdir'] / 'locks'), **more)
    (estate['workdir'] / ('%s.json' % name)).write_text(json.dumps(extra))
    return estate['ansible'].playbook('-vvv', '-i', estate['workdir'] / 'inventory.json', 'aigov.core.rotate_agent_secrets',
                                      '-e', '@%s' % (estate['workdir'] / ('%s.json' % name)), *flags)


def env_lines(estate, name):
    """The agent's env file as {variable: fingerprint of its value}."""
    host = next(p[1] for p in estate['placement'] if p[0] == name)
    content = testhosts.run_in(host, ['cat', '/etc/%s/env' % name]).stdout
    return dict((line.split('=', 1)[0], fp(line.split('=', 1)[1])) for line in content.splitlines() if '=' in line)


def on_host(estate, name):
    """(fingerprint of the key in the agent's env file, its port, its host)."""
    _name, host, port = next(p for p in estate['placement'] if p[0] == name)
    return env_lines(estate, name).get('AGENT_KEY'), port, host


def audit(estate):
    return [json.loads(line) for line in open(estate['audit'])]


def recap_changed(proc):
    recap = proc.stdout[proc.stdout.index('PLAY RECAP'):]
    return re.findall(r'changed=(\d+)', recap)


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


def rotation_entries(estate, since=0):
    """(subject, owner, outcome, details.outcome) of the role's own entries (planned and whole outcomes) after seq since."""
    return [(e['subject'], e['owner'], e['outcome'], e['details'].get('outcome')) for e in audit(estate)
            if e['seq'] > since and e['action'].startswith('agent_secret_rotation.')]


def last_seq(estate):
    return audit(estate)[-1]['seq'] if os.path.exists(estate['audit']) else 0


def test_first_run_creates_delivers_and_verifies_every_agent(estate, kv):
    proc = rotate(estate)
    assert proc.returncode == 0, proc.stdout[-3000:]
    for name in NAMES:
        assert kv.current_version('agents/%s' % name) == 1
        check_agent(estate, kv, name)
    writes = [e for e in audit(estate) if e['action'].startswith('agent_secret.')]
    assert sorted((e['subject'], e['owner'], e['outcome']) for e in writes) == \
        [('rot-%d' % n, 'team-rot-%d' % n if n < 4 else 'team-triage', 'success') for n in (1, 2, 3, 4)]
    # Each agent: a planned entry before the write, one whole outcome after; owner from the registry for rot-4.
    assert sorted(rotation_entries(estate)) == sorted(
        [(n, o, 'planned', None) for n, o in zip(NAMES, ('team-rot-1', 'team-rot-2', 'team-rot-3', 'team-triage'))]
        + [(n, o, 'success', 'rotated') for n, o in zip(NAMES, ('team-rot-1', 'team-rot-2', 'team-rot-3', 'team-triage'))])
    rot4 = [e for e in audit(estate) if e['subject'] == 'rot-4' and e['outcome'] == 'planned'][0]
    assert rot4['details']['risk_tier'] == 'high' and rot4['details']['use_case'] == 'ticket-triage'
    assert rot4['details']['reason'] == 'missing'
    assert 'rot-4 on %s: rotated (version None -> 1' % estate['hosts'][1].name in proc.stdout


def test_second_run_changes_nothing(estate, kv):
    seq = last_seq(estate)
    proc = rotate(estate)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert recap_changed(proc) == ['0'] and 'failed=0' in proc.stdout[proc.stdout.index('PLAY RECAP'):]
    assert [kv.current_version('agents/%s' % n) for n in NAMES] == [1, 1, 1, 1]
    assert last_seq(estate) == seq  # unchanged agents are not audited


def test_check_mode_changes_nothing(estate, kv):
    files = [on_host(estate, n)[0] for n in NAMES]
    entries = len(open(estate['audit']).readlines())
    proc = rotate(estate, force=['rot-2'], leaked=['rot-4'], flags=('--check', '--diff'))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert [kv.current_version('agents/%s' % n) for n in NAMES] == [1, 1, 1, 1]
    assert [on_host(estate, n)[0] for n in NAMES] == files
    assert len(open(estate['audit']).readlines()) == entries
    assert 'rot-2 on %s: rotated (version 1 -> 2' % estate['hosts'][0].name in proc.stdout  # predicted


def test_forced_rotation_with_overlap_true_leaves_only_the_new_key(estate, kv):
    old_value = kv.read('agents/rot-2')[0]
    proc = rotate(estate, force=['rot-2'])
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert kv.current_version('agents/rot-2') == 2 and check_agent(estate, kv, 'rot-2') != fp(old_value)
    assert [kv.current_version('agents/%s' % n) for n in ('rot-1', 'rot-3', 'rot-4')] == [1, 1, 1]
    # The window closed once the new key verified: the previous one is gone from the file and the agent.
    assert list(env_lines(estate, 'rot-2')) == ['AGENT_KEY']
    _fp, port, host = on_host(estate, 'rot-2')
    assert answers(host, port, old_value) == '401'


def test_timed_overlap_window_then_a_leaked_key_without_one(estate, kv):
    """rot-4 (overlap 25s): old and new key both work after a rotation; a run after the window removes the old one.

    A leaked key gets no window: it stops working at once, and a later run within the window does not bring it back.
    """
    old_value = kv.read('agents/rot-4')[0]
    proc = rotate(estate, force=['rot-4'])
    written = time.monotonic()
    assert proc.returncode == 0, proc.stdout[-3000:]
    new_value, version = kv.read('agents/rot-4')
    assert version == 2
    _fp, port, host = on_host(estate, 'rot-4')
    assert env_lines(estate, 'rot-4') == {'AGENT_KEY': fp(new_value), 'AGENT_KEY_PREVIOUS': fp(old_value)}
    assert answers(host, port, old_value) == '200' and answers(host, port, new_value) == '200'
    assert answers(host, port, 'wrong-key') == '401'
    # Within the window a run changes nothing: the agent keeps both keys.
    proc = rotate(estate)
    assert proc.returncode == 0 and recap_changed(proc) == ['0'], proc.stdout[-3000:]
    assert answers(host, port, old_value) == '200'
    time.sleep(max(0, OVERLAP_SECONDS + 1 - (time.monotonic() - written)))
    proc = rotate(estate)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert 'rot-4 on %s: converged' % host.name in proc.stdout
    assert list(env_lines(estate, 'rot-4')) == ['AGENT_KEY']
    assert answers(host, port, old_value) == '401' and answers(host, port, new_value) == '200'
    assert kv.current_version('agents/rot-4') == 2

    seq = last_seq(estate)
    proc = rotate(estate, leaked=['rot-4'])
    assert proc.returncode == 0, proc.stdout[-3000:]
    leaked_value, version = kv.read('agents/rot-4')
    assert version == 3 and list(env_lines(estate, 'rot-4')) == ['AGENT_KEY']
    assert answers(host, port, new_value) == '401' and answers(host, port, leaked_value) == '200'
    planned = [e for e in audit(estate) if e['seq'] > seq and e['outcome'] == 'planned']
    assert [(e['subject'], e['owner'], e['details']['reason']) for e in planned] == [('rot-4', 'team-triage', 'leaked')]
    assert 'flagged as leaked' in planned[0]['reasons'][0]
    write = [e for e in audit(estate) if e['seq'] > seq and e['action'] == 'agent_secret.rotate'][0]
    assert any('leaked' in reason for reason in write['reasons'])
    proc = rotate(estate)  # the 25 s window of version 3 is open, but the leaked key is not delivered again
    assert proc.returncode == 0 and recap_changed(proc) == ['0'], proc.stdout[-3000:]
    assert answers(host, port, new_value) == '401'


def test_a_failed_agent_is_rolled_back_and_the_others_still_rotate(estate, kv):
    old_fp = fp(kv.read('agents/rot-3')[0])
    rot1 = kv.current_version('agents/rot-1')
    _name, host, _port = estate['placement'][2]
    testhosts.run_in(host, ['touch', '/etc/rot-3/frozen'])  # its restart now keeps the old key
    seq = last_seq(estate)
    try:
        # rot-3 first: the agents after the failing one (rot-1, rot-2, then rot-4 from the inventory) are still processed.
        first = [estate['agents'][2], estate['agents'][0], estate['agents'][1]]
        proc = rotate(estate, force=['rot-3', 'rot-1'], agents=first)
    finally:
        testhosts.run_in(host, ['rm', '-f', '/etc/rot-3/frozen'])
    assert proc.returncode == 2
    assert 'rot-3 on %s: rolled_back (version 1 -> 3' % host.name in proc.stdout
    assert 'the new secret (version 2' in proc.stdout and 'rolled back' in proc.stdout
    assert '1 of 4 agents did not end rotated, converged or unchanged' in proc.stdout
    assert 'rot-1 on %s: rotated (version %d -> %d' % (estate['hosts'][0].name, rot1, rot1 + 1) in proc.stdout
    assert kv.current_version('agents/rot-1') == rot1 + 1 and check_agent(estate, kv, 'rot-1')
    # The backend's current version (3) holds the old value again; file and agent agree with it.
    assert kv.current_version('agents/rot-3') == 3 and fp(kv.read('agents/rot-3')[0]) == old_fp
    assert check_agent(estate, kv, 'rot-3') == old_fp
    check_agent(estate, kv, 'rot-4')
    rot3 = [e for e in audit(estate) if e['seq'] > seq and e['subject'] == 'rot-3']
    assert [(e['action'], e['outcome']) for e in rot3] == [
        ('agent_secret_rotation.rotate', 'planned'), ('agent_secret.rotate', 'success'), ('agent_secret.rotate', 'success'),
        ('agent_secret_rotation.rotate', 'rolled_back')]
    assert 'forced rotation (agent_secret_rotation_force)' in rot3[1]['reasons']
    assert rot3[2]['reasons'][-1] == 'rollback: version 2 failed delivery or verification; restoring the value of version 1'
    assert (rot3[3]['details']['old_version'], rot3[3]['details']['new_version']) == (1, 3)
    assert rot3[3]['details']['new_fingerprint'] == old_fp and rot3[3]['owner'] == 'team-rot-3'


def test_run_killed_after_the_backend_write_converges(estate, kv):
    # As if a run wrote a version and died before delivering it: the agent still holds the one before.
    before = kv.current_version('agents/rot-1')
    kv.write('agents/rot-1', 'sk-agent-ORPHANEDversion0123456789abcd')
    file_fp, _port, _host = on_host(estate, 'rot-1')
    assert file_fp == fp(kv.read('agents/rot-1', before)[0])
    seq = last_seq(estate)
    proc = rotate(estate)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert check_agent(estate, kv, 'rot-1') == fp(kv.read('agents/rot-1')[0])
    assert rotation_entries(estate, seq) == [('rot-1', 'team-rot-1', 'success', 'converged')]
    proc = rotate(estate)
    assert proc.returncode == 0 and recap_changed(proc) == ['0']


def test_an_agent_that_cannot_take_the_current_version_is_reported_failed(estate, kv):
    kv.write('agents/rot-2', 'sk-agent-WRITTENbyhandNOTdelivered0123')
    _name, host, _port = estate['placement'][1]
    testhosts.run_in(host, ['touch', '/etc/rot-2/frozen'])  # its restart keeps the old key
    seq = last_seq(estate)
    try:
        proc = rotate(estate)
    finally:
        testhosts.run_in(host, ['rm', '-f', '/etc/rot-2/frozen'])
    assert proc.returncode == 2
    assert 'rot-2 on %s: failed' % host.name in proc.stdout and 'the current version could not be delivered and verified' in proc.stdout
    assert rotation_entries(estate, seq) == [('rot-2', 'team-rot-2', 'failure', 'failed')]
    proc = rotate(estate)  # fixed: the next run converges it
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert 'rot-2 on %s: converged' % host.name in proc.stdout and check_agent(estate, kv, 'rot-2')


def test_two_rotations_of_one_agent_at_once(estate, kv):
    """Two real ansible-playbook runs on rot-1 together: one rotates it, the other is refused; no split state."""
    before = kv.current_version('agents/rot-1')
    slow = [dict(a, restart_command=['sh', '-c', 'sleep 3; exec /usr/local/bin/agent-restart rot-1 9000'])
            for a in estate['agents'] if a['name'] == 'rot-1']
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(rotate, estate, force=['rot-1'], agents=slow, name='race-%d' % n,
                            agent_secret_rotation_inventory_group='') for n in (1, 2)]
        procs = [run.result() for run in runs]
    assert sorted(p.returncode for p in procs) == [0, 2], [p.stdout[-2000:] for p in procs]
    loser = [p for p in procs if p.returncode == 2][0]
    assert 'rot-1 on %s: refused' % estate['hosts'][0].name in loser.stdout
    assert 'nothing written or delivered' in loser.stdout and 'another rotation holds' in loser.stdout
    assert kv.current_version('agents/rot-1') == before + 1
    check_agent(estate, kv, 'rot-1')  # backend current == the agent's file == what the agent accepts
    assert not os.listdir(estate['workdir'] / 'locks') or os.listdir(estate['workdir'] / 'locks') == ['.guard']


def test_stale_lock_of_a_killed_run_is_taken_over(estate, kv):
    locks = estate['workdir'] / 'locks'
    gone = subprocess.Popen(['true'])
    gone.wait()  # a pid that no process has any more, as after a killed run
    (locks / 'rot-2.lock').write_text(json.dumps({'agent': 'rot-2', 'pid': gone.pid, 'machine': os.uname().nodename,
                                                  'since': '2026-01-01T00:00:00+00:00'}))
    proc = rotate(estate, force=['rot-2'])
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert 'took over the stale lock' in proc.stderr and not (locks / 'rot-2.lock').exists()


def test_unreachable_backend_changes_nothing_anywhere(estate, kv):
    files = [on_host(estate, n)[0] for n in NAMES]
    versions = [kv.current_version('agents/%s' % n) for n in NAMES]
    port = free_port()
    proc = rotate(estate, force=['rot-1'], backend={'url': 'http://127.0.0.1:%d' % port, 'timeout': 2})
    assert proc.returncode == 2
    assert 'agent rot-1: vault backend http://127.0.0.1:%d (mount secret), path agents/rot-1: unreachable' % port in proc.stdout
    assert '4 of 4 agents did not end rotated, converged or unchanged' in proc.stdout
    assert 'rot-1 on %s: refused' % estate['hosts'][0].name in proc.stdout
    assert [on_host(estate, n)[0] for n in NAMES] == files
    assert [kv.current_version('agents/%s' % n) for n in NAMES] == versions


def test_unknown_leaked_agent_is_refused_before_anything(estate, kv):
    versions = [kv.current_version('agents/%s' % n) for n in NAMES]
    seq = last_seq(estate)
    proc = rotate(estate, leaked=['rot-9'])
    assert proc.returncode == 2
    assert 'agent_secret_rotation_leaked names no known agent: rot-9 (known: rot-1, rot-2, rot-3, rot-4)' in proc.stdout
    assert [kv.current_version('agents/%s' % n) for n in NAMES] == versions and last_seq(estate) == seq


def test_no_secret_value_in_any_output(estate, kv):
    values = set()
    for name in NAMES:
        for version in range(1, kv.current_version('agents/%s' % name) + 1):
            values.add(kv.read('agents/%s' % name, version)[0])
    count = len(values)
    assert count >= 13  # rot-1 4, rot-2 4, rot-3 2 (its rollback restores its first value), rot-4 3
    artifacts = [str(path) for path in estate['workdir'].rglob('*') if path.is_file() and path.suffix in ('.json', '.lock', '.jsonl')]
    haystacks = list(estate['ansible'].outputs) + [open(path, errors='replace').read() for path in artifacts]
    assert verify(estate['audit'])['ok']
    leaks = [value[:9] + '...' for value in values for text in haystacks if value in text]
    assert not leaks, 'secret values found in output, the audit log or an artifact: %s' % leaks
