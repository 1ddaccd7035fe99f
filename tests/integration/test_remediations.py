"""The remediations added to aigov.core.remediate, each through the real playbook on a real container host over SSH:
rollback to the last approved model digest, stopping a runaway GPU process, rotating a leaked agent key (real
OpenBao) and quarantining an agent.

One host runs a fake vLLM serving /srv/models/current.bin, a process that ignores SIGTERM on a fake nvidia-smi's
GPU, and a stand-in agent (recognised by discovery as a Letta server) that answers 200 only with its key. The store
is filled by the real aigov.core.discover. Each event goes through remediation.encode_payload (as the event source
sends it) with hostile labels; its decision is appended to the audit log as the source writes it (the source
itself is tested in test_remediation_chain.py). Checks go around the collection: podman exec, sha256sum, ps,
the KV through the independent reader, the agent's own HTTP answer.
"""

import datetime
import hashlib
import json
import os
import sqlite3
import sys

import pytest

from ansible_collections.aigov.core.plugins.module_utils.audit import audit_verify
from tests.conftest import ROOT
from tests.hosts import testhosts
from tests.integration.conftest import FAKE_SERVERS, Ansible, record_decision, wait_listening
# The secret tests' fixtures: one real OpenBao dev server, and the independent KV reader.
from tests.integration.secrets.conftest import kv, openbao  # noqa: F401  # pylint: disable=unused-import
from tests.integration.test_alert_chain import write
from tests.integration.test_remediation_rulebook import entries, no_freeze_policy
from tests.ports import free_port

GPU_UUID = 'GPU-5e1d2c3b-aaaa-bbbb-cccc-000000000001'
APPROVED, TAMPERED = b'approved weights v1\n' * 1000, b'tampered weights\n' * 1000
FILES = {
    # vLLM stand-in serving a model file, restarted by its service definition
    '/usr/local/sbin/restart-vllm': (
        '#!/bin/sh\npkill -f vllm.entrypoints; sleep 0.5\n'
        'cd / && PYTHONPATH=/opt/fake setsid nohup python3 -m vllm.entrypoints.openai.api_server '
        '--model /srv/models/current.bin --host 127.0.0.1 --port 8000 >/dev/null 2>&1 </dev/null &\n'
        'echo $! > /run/vllm.pid\n'),
    # nvidia-smi listing, as compute processes of GPU 0, the pids in /etc/fake-gpu-pids
    '/usr/local/bin/nvidia-smi': (
        '#!/bin/sh\ncase "$1" in\n'
        '  --query-gpu=*) echo "0, %s, NVIDIA A100-SXM4-80GB, 81920, 550.54.15, 00000000:07:00.0" ;;\n'
        '  --query-compute-apps=*) for pid in $(cat /etc/fake-gpu-pids); do echo "%s, $pid, /usr/bin/python3, 40960"; done ;;\n'
        '  *) exit 6 ;;\nesac\n' % (GPU_UUID, GPU_UUID)),
    # a training job that ignores SIGTERM
    '/usr/local/bin/gpu-burn': (
        '#!/usr/bin/python3\nimport os, signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n'
        'open("/run/gpu-burn.pid", "w").write(str(os.getpid()))\ntime.sleep(3600)\n'),
    # the agent: `letta server ENV_FILE PORT` runs the rotation tests' agent service
    '/usr/local/bin/letta': (
        '#!/usr/bin/python3\nimport runpy, sys\nsys.argv = [sys.argv[0]] + sys.argv[2:]\n'
        'runpy.run_path("/opt/agent/agent.py", run_name="__main__")\n'),
    '/usr/local/bin/letta-restart': (
        '#!/bin/sh\n[ -f /run/letta.pid ] && kill "$(cat /run/letta.pid)" 2>/dev/null; sleep 0.5\n'
        'setsid python3 /usr/local/bin/letta server /etc/rem-bot/env 9100 >/dev/null 2>&1 </dev/null &\n'
        'echo $! > /run/letta.pid\n'),
    '/usr/local/bin/letta-stop': '#!/bin/sh\n[ -f /run/letta.pid ] && kill "$(cat /run/letta.pid)" 2>/dev/null; rm -f /run/letta.pid\n',
}
SERVICES = {'vllm': {'env_file': '/etc/default/vllm', 'restart_command': '/usr/local/sbin/restart-vllm'},
            'letta': {'env_file': '/etc/rem-bot/env', 'stop_command': '/usr/local/bin/letta-stop',
                      'restart_command': '/usr/local/bin/letta-restart'}}
ASK = ('import os,sys,urllib.request,urllib.error\n'
       'req=urllib.request.Request("http://127.0.0.1:9100/", headers={"Authorization": "Bearer "+os.environ["K"]})\n'
       'try:\n    print(urllib.request.urlopen(req, timeout=5).status)\n'
       'except urllib.error.HTTPError as e:\n    print(e.code)\nexcept OSError:\n    print("down")\n')


def sha(data):
    return hashlib.sha256(data).hexdigest()


def sh(host, *argv):
    done = testhosts.run_in(host, list(argv))
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope='module')
def estate(tmp_path_factory, openbao, ansible_env):  # noqa: F811 (the imported fixture)
    workdir = tmp_path_factory.mktemp('remediations')
    with testhosts.test_hosts(1, 'aigov-rem-%d' % os.getpid(), str(workdir)) as hosts:
        host = hosts[0]
        testhosts.copy_into(host, FAKE_SERVERS, '/opt/fake')
        testhosts.run_in(host, ['mkdir', '-p', '/opt/agent', '/srv/models', '/srv/approved', '/etc/rem-bot'])
        testhosts.copy_into(host, os.path.join(ROOT, 'tests', 'fixtures', 'agent_service', 'agent.py'), '/opt/agent/agent.py')
        for path, text in FILES.items():
            local = workdir / os.path.basename(path)
            local.write_text(text)
            testhosts.copy_into(host, local, path)
            sh(host, 'chmod', '755', path)
        (workdir / 'approved').write_bytes(APPROVED)
        (workdir / 'tampered').write_bytes(TAMPERED)
        testhosts.copy_into(host, workdir / 'approved', '/srv/approved/v1.bin')
        testhosts.copy_into(host, workdir / 'tampered', '/srv/models/current.bin')
        sh(host, 'touch', '/etc/default/vllm')
        sh(host, '/usr/local/sbin/restart-vllm')
        testhosts.run_in(host, ['/usr/local/bin/gpu-burn'], detach=True)
        wait_listening(host, 8000)
        burn = int(sh(host, 'sh', '-c', 'while [ ! -s /run/gpu-burn.pid ]; do sleep 0.1; done; cat /run/gpu-burn.pid'))
        vllm = int(sh(host, 'cat', '/run/vllm.pid'))
        sh(host, 'sh', '-c', 'echo %d %d > /etc/fake-gpu-pids' % (burn, vllm))

        agents = [dict(name='rem-bot', owner='bot-team', host=host.name, env_file='/etc/rem-bot/env', env_var='AGENT_KEY',
                       restart_command=['/usr/local/bin/letta-restart'], prefix='sk-agent-', verify_url='http://127.0.0.1:9100/')]
        inventory = json.loads(testhosts.write_inventory(hosts, workdir / 'hosts.json', hostvars={host.name: {
            'aigov_baseline_services': SERVICES, 'agent_secret_rotation_agents': agents,
            'aigov_agent_names': {'letta': 'rem-bot'}}}).read_text())
        inventory['all']['hosts'] = {'localhost': {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}}
        (workdir / 'inventory.json').write_text(json.dumps(inventory))
        ansible = Ansible(dict(ansible_env, BAO_ADDR=openbao.url, BAO_TOKEN=openbao.root_token))
        log, store = str(workdir / 'audit.jsonl'), str(workdir / 'assets.sqlite3')
        # The agent gets its first key from the rotation playbook, which starts it.
        (workdir / 'agents.json').write_text(json.dumps({'agent_secret_rotation_agents': agents,
                                                         'agent_secret_rotation_audit_log': log}))
        first = ansible.playbook('-i', workdir / 'inventory.json', 'aigov.core.rotate_agent_secrets', '-e', '@%s' % (workdir / 'agents.json'),
                                 cwd=str(workdir))
        assert first.returncode == 0, first.stdout[-3000:]
        wait_listening(host, 9100)
        registry = write(workdir / 'registry.yml', {'schema_version': 1, 'use_cases': [
            {'id': 'lab-llm', 'risk_tier': 'minimal', 'owners': {'decision': 'lab-team'},
             'approved_models': [{'name': 'opt-v1', 'sha256': sha(APPROVED), 'path': '/srv/approved/v1.bin'}],
             'assets': [{'inventory_hostname': host.name}]}]})
        found = ansible.playbook('-i', workdir / 'inventory.json', 'aigov.core.discover', '-e', 'aigov_store_path=%s' % store,
                                 '-e', 'aigov_registry=%s' % registry)
        assert found.returncode == 0, found.stdout[-3000:]
        with sqlite3.connect(store) as db:  # asset ids, read independently of the collection's code
            ids = dict(db.execute('SELECT kind, id FROM assets WHERE removed_at IS NULL'))
        yield dict(host=host, workdir=workdir, ansible=ansible, log=log, store=store, registry=registry, ids=ids,
                   burn=burn, vllm=vllm, marks=[])


def remediate(estate, name, kind, *flags, inventory='inventory.json', **labels):
    """Record the source's automate decision for an alert on the asset of KIND and run aigov.core.remediate."""
    fingerprint = 'fp-%d' % len(entries(estate['log']))
    mark = estate['workdir'] / ('pwned-%s' % fingerprint)
    estate['marks'].append(mark)
    labels = dict({'x': "{{ lookup('pipe', 'touch %s') }}" % mark, 'y': 'x; rm -rf /'}, **labels)
    received = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')
    asset_id = estate['ids'][kind]
    event = {'alert': {'fingerprint': fingerprint, 'name': name, 'status': 'firing', 'labels': labels},
             'asset': {'known': True, 'asset_id': asset_id, 'inventory_hostname': estate['host'].name},
             'decision': {'decision': 'automate', 'accountable': 'lab-team', 'reasons': ['minimal']},
             'meta': {'received_at': received}}
    payload = record_decision(estate['log'], event, estate['ansible'].env)
    return estate['ansible'].playbook(
        '-i', estate['workdir'] / inventory, 'aigov.core.remediate', *flags,
        '-e', 'aigov_event_payload=%s' % payload, '-e', 'aigov_audit_log=%s' % estate['log'],
        '-e', 'aigov_store_path=%s' % estate['store'], '-e', 'aigov_registry=%s' % estate['registry'],
        '-e', 'aigov_guardrails=%s' % no_freeze_policy(estate['workdir'] / 'guardrails.yml'), '-e', 'aigov_gpu_stop_timeout=1',
        cwd=str(estate['workdir']))


def outcomes(estate, since):
    return [(e['action'], e['outcome'], e['details'].get('remediation')) for e in entries(estate['log'])[since:]
            if e['action'].startswith('remediation.')]


def served_digest(host):
    return sh(host, 'sha256sum', '/srv/models/current.bin').split()[0]


def test_rollback_refuses_an_altered_copy_then_restores_the_approved_model(estate):
    host, since = estate['host'], len(entries(estate['log']))
    sh(host, 'cp', '/srv/approved/v1.bin', '/root/v1.bin')
    sh(host, 'sh', '-c', 'echo altered >> /srv/approved/v1.bin')
    refused = remediate(estate, 'ModelDigestMismatch', 'model_server')
    assert refused.returncode != 0 and 'no verified copy of an approved model' in refused.stdout, refused.stdout[-3000:]
    assert served_digest(host) == sha(TAMPERED)
    sh(host, 'cp', '/root/v1.bin', '/srv/approved/v1.bin')
    check = remediate(estate, 'ModelDigestMismatch', 'model_server', '--check', '--diff')
    assert check.returncode == 0 and sha(APPROVED) in check.stdout, check.stdout[-3000:]
    assert served_digest(host) == sha(TAMPERED)
    pid = sh(host, 'cat', '/run/vllm.pid')
    run = remediate(estate, 'ModelDigestMismatch', 'model_server')
    assert run.returncode == 0, run.stdout[-3000:]
    assert served_digest(host) == sha(APPROVED) and sh(host, 'cat', '/run/vllm.pid') != pid  # restarted
    wait_listening(host, 8000)
    [record] = [json.loads(sh(host, 'cat', path)) for path in sh(host, 'find', '/var/lib/aigov/quarantine', '-name', 'record.json').split()]
    assert (record['original_path'], record['sha256']) == ('/srv/models/current.bin', sha(TAMPERED))
    assert sh(host, 'sha256sum', record['quarantined_as']).split()[0] == sha(TAMPERED)
    assert outcomes(estate, since) == [
        ('remediation.start', 'planned', 'rollback_model'), ('remediation.outcome', 'failure', 'rollback_model'),
        ('remediation.start', 'planned', 'rollback_model'), ('remediation.outcome', 'success', 'rollback_model')]
    assert 'opt-v1' in entries(estate['log'])[-1]['reasons'][0]


def test_gpu_process_is_stopped_only_when_discovered_and_unprotected(estate):
    host, since = estate['host'], len(entries(estate['log']))
    for labels, reason in (({'pid': 'x; rm -rf /'}, 'the alert names no pid'),
                           ({'pid': "{{ lookup('pipe', 'id') }}"}, 'the alert names no pid'),
                           ({'pid': '1'}, 'the alert names no pid'),
                           ({'pid': str(estate['vllm'])}, 'belongs to a model server or vector database')):
        proc = remediate(estate, 'GpuProcessRunaway', 'gpu', **labels)
        assert proc.returncode != 0 and reason in proc.stdout, proc.stdout[-3000:]
    # the vLLM restarted since discovery: its old pid is gone; the training job still runs
    assert sh(host, 'ps', '-o', 'stat=', '-p', str(estate['burn']))
    check = remediate(estate, 'GpuProcessRunaway', 'gpu', '--check', pid=str(estate['burn']))
    assert check.returncode == 0, check.stdout[-3000:]
    run = remediate(estate, 'GpuProcessRunaway', 'gpu', pid=str(estate['burn']))
    assert run.returncode == 0, run.stdout[-3000:]
    assert testhosts.run_in(host, ['ps', '-o', 'stat=', '-p', str(estate['burn'])]).stdout.strip() in ('', 'Z')
    assert outcomes(estate, since)[-2:] == [('remediation.start', 'planned', 'stop_gpu_process'),
                                            ('remediation.outcome', 'success', 'stop_gpu_process')]
    assert 'SIGTERM, SIGKILL' in entries(estate['log'])[-1]['reasons'][0]
    assert [e['outcome'] for e in entries(estate['log'])[since:] if e['action'] == 'remediation.refused'] == ['refused'] * 4


@pytest.mark.parametrize('name, kind, remediation', [
    ('ModelServerDown', 'model_server', 'restart_model_server'),   # reachability from the restart itself
    ('AgentCompromised', 'agent', 'quarantine_agent'),             # from the stop: the credential is not revoked
    ('AgentCredentialLeaked', 'agent', 'rotate_agent_secret'),     # from a ping: nothing rotated in the backend
])
def test_an_unreachable_host_gets_nothing_done_and_the_outcome_is_a_failure(estate, kv, name, kind, remediation):  # noqa: F811
    host, since = estate['host'], len(entries(estate['log']))
    inventory = json.loads((estate['workdir'] / 'inventory.json').read_text())
    inventory['all']['children']['testhosts']['hosts'][host.name]['ansible_port'] = free_port()  # nothing listens there
    (estate['workdir'] / 'unreachable.json').write_text(json.dumps(inventory))
    vllm, version = sh(host, 'cat', '/run/vllm.pid'), kv.current_version('agents/rem-bot')
    run = remediate(estate, name, kind, inventory='unreachable.json')
    assert run.returncode != 0 and 'is unreachable' in run.stdout, run.stdout[-3000:]
    assert outcomes(estate, since) == [('remediation.start', 'planned', remediation),
                                       ('remediation.outcome', 'failure', remediation)]
    assert 'is unreachable' in entries(estate['log'])[-1]['reasons'][0]
    assert sh(host, 'cat', '/run/vllm.pid') == vllm and kv.current_version('agents/rem-bot') == version
    assert not [e for e in entries(estate['log'])[since:] if e['action'].startswith('agent_secret')]


def agent_answers(host, value):
    return testhosts.run_in(host, ['python3', '-c', ASK], env={'K': value}).stdout.strip()


def test_leaked_key_is_rotated_and_the_agent_verified(estate, kv):  # noqa: F811 (the imported fixture)
    host, since = estate['host'], len(entries(estate['log']))
    old, version = kv.read('agents/rem-bot')
    assert agent_answers(host, old) == '200'
    run = remediate(estate, 'AgentCredentialLeaked', 'agent')
    assert run.returncode == 0, run.stdout[-3000:]
    new, new_version = kv.read('agents/rem-bot')
    assert new_version == version + 1 and new != old
    assert agent_answers(host, new) == '200' and agent_answers(host, old) == '401'
    rotated = [e for e in entries(estate['log'])[since:] if e['action'] == 'agent_secret.rotate']
    assert [(e['subject'], e['outcome']) for e in rotated] == [('rem-bot', 'success')]
    planned, whole = [e for e in entries(estate['log'])[since:] if e['action'] == 'agent_secret_rotation.rotate']
    assert (planned['outcome'], whole['subject'], whole['outcome']) == ('planned', 'rem-bot', 'success')
    assert 'leaked' in json.dumps(whole['details'])
    assert outcomes(estate, since) == [('remediation.start', 'planned', 'rotate_agent_secret'),
                                       ('remediation.outcome', 'success', 'rotate_agent_secret')]
    estate['secrets'] = [old, new]


def test_agent_is_quarantined_its_credential_revoked_then_released(estate, kv):  # noqa: F811 (the imported fixture)
    host, since = estate['host'], len(entries(estate['log']))
    held, version = kv.read('agents/rem-bot')  # the key the agent holds
    assert agent_answers(host, held) == '200'
    check = remediate(estate, 'AgentCompromised', 'agent', '--check')
    assert check.returncode == 0 and agent_answers(host, held) == '200', check.stdout[-3000:]
    assert kv.current_version('agents/rem-bot') == version
    run = remediate(estate, 'AgentCompromised', 'agent')
    assert run.returncode == 0, run.stdout[-3000:]
    assert agent_answers(host, held) == 'down'
    assert testhosts.run_in(host, ['pgrep', '-f', 'letta server']).returncode == 1  # no agent process
    revoked, revoked_version = kv.read('agents/rem-bot')
    assert revoked_version == version + 1 and revoked != held
    assert sh(host, 'cat', '/etc/rem-bot/env') == 'AGENT_KEY=%s' % held  # the new value was never delivered
    record = json.loads(sh(host, 'cat', '/var/lib/aigov/quarantine/agents/rem-bot.json'))
    assert (record['state'], record['asset_id']) == ('quarantined', estate['ids']['agent'])
    revocation = [e for e in entries(estate['log'])[since:] if e['action'] == 'agent_secret.rotate']
    assert [(e['subject'], e['outcome'], e['details']['new_version']) for e in revocation] == [('rem-bot', 'success', revoked_version)]
    assert 'credential is revoked' in revocation[0]['reasons'][-1]
    assert outcomes(estate, since)[-2:] == [('remediation.start', 'planned', 'quarantine_agent'),
                                            ('remediation.outcome', 'success', 'quarantine_agent')]

    # The release starts the agent again (with the old key it still holds); the rotation playbook then
    # delivers the backend's current value, and the old key stays refused.
    inventory = estate['workdir'] / 'inventory.json'
    release = estate['ansible'].run('ansible', '-i', inventory, estate['host'].name, '-m', 'aigov.core.ai_agent_quarantine',
                                    '-a', 'agent=rem-bot state=released')
    assert release.returncode == 0 and '"changed": true' in release.stdout, release.stdout[-3000:]
    wait_listening(host, 9100)
    converge = estate['ansible'].playbook('-i', inventory, 'aigov.core.rotate_agent_secrets',
                                          '-e', '@%s' % (estate['workdir'] / 'agents.json'), cwd=str(estate['workdir']))
    assert converge.returncode == 0, converge.stdout[-3000:]
    assert agent_answers(host, revoked) == '200' and agent_answers(host, held) == '401'

    # Nothing leaked, nothing templated or run from a label, and the chain holds.
    text = open(estate['log']).read() + ''.join(estate['ansible'].outputs)
    for value in estate.get('secrets', []) + [held, revoked]:
        assert value not in text
    assert not any(mark.exists() for mark in estate['marks'])
    assert testhosts.run_in(host, ['sh', '-c', 'ls /tmp/pwned* 2>/dev/null']).stdout == ''
    assert 'rm -rf' not in open(estate['log']).read()
    assert audit_verify.verify(estate['log'])['ok']
