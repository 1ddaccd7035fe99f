"""aigov.core.agent_secret and its lookup in real ansible-playbook runs (-vvv) against a real OpenBao dev server.

Every check of the backend goes through the independent KV reader. The last
test greps every run's output, the audit log and the work directory for
every secret value the backend ever held: there must be none.
"""

import json
import os
import sys
import threading

import pytest
import yaml

from ansible_collections.aigov.core.plugins.module_utils.secrets import agent_secret as engine
from ansible_collections.aigov.core.plugins.module_utils.common._options import OptionAdapter
from ansible_collections.aigov.core.plugins.module_utils.secrets._secret_backend_options import open_backend
from ansible_collections.aigov.core.plugins.module_utils.audit.audit_verify import verify
from ansible_collections.aigov.core.plugins.module_utils.common.fingerprints import DEFAULT_FINGERPRINT_KEY, fingerprint
from ansible_collections.aigov.core.plugins.module_utils.secrets.secret_backend_vault import VaultKV2Backend
from tests.integration.conftest import Ansible
from tests.ports import free_port

SUPPLIED = 'sk-agent-SUPPLIEDvalue0123456789'  # a value given by the playbook, not generated
PATHS = []  # every backend path the tests use, for the leak check


@pytest.fixture(scope='module')
def work(tmp_path_factory, openbao, ansible_env):
    path = tmp_path_factory.mktemp('agent-secret')
    (path / 'inventory.json').write_text(json.dumps({'all': {'hosts': {'localhost': {
        'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}}}}))
    env = dict(ansible_env, BAO_ADDR=openbao.url, BAO_TOKEN=openbao.root_token, AIGOV_AUDIT_LOG=str(path / 'audit.jsonl'))
    return dict(path=path, ansible=Ansible(env), audit=str(path / 'audit.jsonl'))


def run(work, name, args, flags=(), extra_tasks=()):
    """Run one agent_secret task (-vvv) and return (process, registered result)."""
    out = work['path'] / ('%s.json' % name)
    tasks = [dict({'name': 'Agent secret', 'aigov.core.agent_secret': args, 'register': 'r', 'ignore_errors': True}),
             {'name': 'Keep the result', 'ansible.builtin.copy': {'content': '{{ r | to_json }}', 'dest': str(out), 'mode': '0600'},
              'no_log': True, 'check_mode': False, 'diff': False}] + list(extra_tasks)
    playbook = work['path'] / ('%s.yml' % name)
    playbook.write_text(yaml.safe_dump([{'name': name, 'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}]))
    proc = work['ansible'].playbook('-vvv', '-i', work['path'] / 'inventory.json', playbook, *flags)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    out.unlink()  # it may hold a value (return_value); the leak check must not find this file
    return proc, result


def fp(value):
    return fingerprint(value, DEFAULT_FINGERPRINT_KEY)


def audit_entries(work):
    with open(work['audit']) as handle:
        return [json.loads(line) for line in handle]


def test_check_create_idempotent_rotate_read(work, kv):
    PATHS.append('agents/bot-a')
    args = {'agent': 'bot-a', 'owner': 'team-a', 'prefix': 'sk-agent-'}
    proc, result = run(work, 'check-create', args, flags=('--check', '--diff'))
    assert result['changed'] and result['action'] == 'create' and result['version'] == 1
    assert 'would be created' in result['msg'] and 'version: 1' in proc.stdout
    assert kv.current_version('agents/bot-a') == 0 and not os.path.exists(work['audit'])

    _proc, result = run(work, 'create', args)
    value, version = kv.read('agents/bot-a')
    # Asserts compare fingerprints and booleans: a failing assert must not print a value into the test log.
    shaped, first_fp = value.startswith('sk-agent-') and len(value) == 49, fp(value)
    assert result['changed'] and version == 1 and shaped
    assert result['fingerprint'] == first_fp and 'secret' not in result

    _proc, result = run(work, 'again', dict(args, max_age='30d'))
    assert not result['changed'] and result['action'] == 'none' and result['due'] is False
    assert kv.current_version('agents/bot-a') == 1

    proc, result = run(work, 'check-rotate', dict(args, state='rotate'), flags=('--check', '--diff'))
    assert result['changed'] and result['version'] == 2 and kv.current_version('agents/bot-a') == 1
    assert 'fingerprint: %s' % first_fp in proc.stdout

    _proc, result = run(work, 'rotate', dict(args, state='rotate'))
    new_value, new_version = kv.read('agents/bot-a')
    new_fp = fp(new_value)
    assert new_version == 2 and new_fp != first_fp and result['previous']['version'] == 1
    assert result['fingerprint'] == new_fp

    _proc, result = run(work, 'read', {'agent': 'bot-a', 'state': 'read'})
    assert not result['changed'] and result['version'] == 2 and result['fingerprint'] == new_fp
    assert 'secret' not in result and result['age_days'] < 1

    entries = audit_entries(work)
    assert [(e['subject'], e['owner'], e['outcome'], e['details']['old_version'], e['details']['new_version']) for e in entries] == \
        [('bot-a', 'team-a', 'success', None, 1), ('bot-a', 'team-a', 'success', 1, 2)]
    assert verify(work['audit'])['ok']


def test_supplied_value_returned_only_when_asked_and_hidden(work, kv):
    PATHS.append('agents/bot-b')
    proc, result = run(work, 'supplied', {'agent': 'bot-b', 'value': SUPPLIED, 'return_value': True})
    assert result['changed'] and result['secret'] == SUPPLIED and kv.read('agents/bot-b') == (SUPPLIED, 1)
    assert 'censored' in proc.stdout  # the task result is no_log
    _proc, result = run(work, 'supplied-again', {'agent': 'bot-b', 'value': SUPPLIED})
    assert not result['changed']
    _proc, result = run(work, 'rotate-same', {'agent': 'bot-b', 'value': SUPPLIED, 'state': 'rotate'})
    assert result['failed'] and 'already the current version (1)' in result['msg'] and kv.current_version('agents/bot-b') == 1


def test_max_age_rotates_when_due(work, kv):
    PATHS.append('agents/bot-c')
    run(work, 'age-create', {'agent': 'bot-c'})
    _proc, result = run(work, 'age-young', {'agent': 'bot-c', 'max_age': '1h'})
    assert not result['changed'] and not result['due']
    threading.Event().wait(1.1)  # the first version is now older than 1 s
    _proc, result = run(work, 'age-due', {'agent': 'bot-c', 'max_age': '1s'})
    assert result['changed'] and result['due'] and result['action'] == 'rotate' and kv.current_version('agents/bot-c') == 2


def test_lookup_current_and_previous_version(work, kv):
    PATHS.append('agents/bot-d')
    run(work, 'lookup-create', {'agent': 'bot-d'})
    run(work, 'lookup-rotate', {'agent': 'bot-d', 'state': 'rotate'})
    dest = work['path'] / 'delivered.env'
    tasks = [{'name': 'Deliver', 'no_log': True, 'ansible.builtin.copy': {
        'content': "{{ lookup('aigov.core.agent_secret', 'bot-d') }}\n{{ lookup('aigov.core.agent_secret', 'bot-d', version=1) }}\n",
        'dest': str(dest), 'mode': '0600'}}]
    playbook = work['path'] / 'lookup.yml'
    playbook.write_text(yaml.safe_dump([{'name': 'lookup', 'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}]))
    proc = work['ansible'].playbook('-vvv', '-i', work['path'] / 'inventory.json', playbook)
    assert proc.returncode == 0, proc.stdout
    delivered = [fp(line) for line in dest.read_text().splitlines()]
    assert delivered == [fp(kv.read('agents/bot-d')[0]), fp(kv.read('agents/bot-d', 1)[0])]
    dest.unlink()
    bad = work['path'] / 'lookup-missing.yml'
    bad.write_text(yaml.safe_dump([{'name': 'missing', 'hosts': 'localhost', 'gather_facts': False, 'tasks': [
        {'name': 'Missing', 'ansible.builtin.debug': {'msg': "{{ lookup('aigov.core.agent_secret', 'nobody') | length }}"}}]}]))
    proc = work['ansible'].playbook('-i', work['path'] / 'inventory.json', bad)
    assert proc.returncode == 2 and 'agent_secret: agent nobody has no secret' in proc.stdout


def test_refused_and_unreachable_backends_change_nothing(work, kv, openbao):
    PATHS.append('agents/bot-e')
    run(work, 'refused-create', {'agent': 'bot-e'})
    before = len(audit_entries(work))
    _proc, result = run(work, 'bad-token', {'agent': 'bot-e', 'state': 'rotate', 'token': 'not-a-token'})
    assert result['failed'] and result['msg'] == (
        'agent bot-e: vault backend %s (mount secret), path agents/bot-e: permission denied reading the current version '
        '(HTTP 403)' % openbao.url)
    _proc, result = run(work, 'read-only', {'agent': 'bot-e', 'state': 'rotate', 'token': openbao.auth['read_only_token']})
    assert result['failed'] and 'agent bot-e' in result['msg'] and 'permission denied writing a new version' in result['msg']
    assert openbao.auth['read_only_token'] not in result['msg']
    port = free_port()
    _proc, result = run(work, 'unreachable', {'agent': 'bot-e', 'state': 'rotate', 'url': 'http://127.0.0.1:%d' % port, 'timeout': 3})
    assert result['failed'] and result['msg'].startswith(
        'agent bot-e: vault backend http://127.0.0.1:%d (mount secret), path agents/bot-e: unreachable' % port)
    assert kv.current_version('agents/bot-e') == 1
    failures = audit_entries(work)[before:]
    assert [e['outcome'] for e in failures] == ['failure'] * 3 and all(e['details']['new_version'] is None for e in failures)
    _proc, result = run(work, 'bad-option', {'agent': 'bot-e', 'length': 4})
    assert result['failed'] and 'length must be at least 16' in result['msg'] and len(audit_entries(work)) == before + 3


def test_approle_from_the_environment(work, kv, openbao):
    PATHS.append('agents/bot-f')
    env = dict(work['ansible'].env, AIGOV_VAULT_ROLE_ID=openbao.auth['role_id'], AIGOV_VAULT_SECRET_ID=openbao.auth['secret_id'])
    env.pop('BAO_TOKEN')
    approle = dict(work, ansible=Ansible(env))
    _proc, result = run(approle, 'approle', {'agent': 'bot-f', 'auth_method': 'approle'})
    work['ansible'].outputs.extend(approle['ansible'].outputs)
    assert result['changed'] and result['version'] == 1 and kv.current_version('agents/bot-f') == 1
    assert openbao.auth['secret_id'] not in ''.join(approle['ansible'].outputs)


class BarrierBackend(VaultKV2Backend):
    """Holds each writer at a barrier after its read, so both rotations read the same version."""

    barrier = None

    def write(self, path, value, expected_version):
        self.barrier.wait(30)
        return super(BarrierBackend, self).write(path, value, expected_version)


def test_concurrent_rotations_one_wins(work, kv, openbao):
    PATHS.append('agents/bot-race')
    run(work, 'race-create', {'agent': 'bot-race'})
    BarrierBackend.barrier = threading.Barrier(2)
    outcomes = []

    def rotate():
        store = open_backend(OptionAdapter.from_dict(dict(backend='vault', url=openbao.url, token=openbao.root_token)))
        store.__class__ = BarrierBackend
        try:
            engine.ensure(store, engine.Request('bot-race', state='rotate', audit_path=work['audit'], actor='race'))
            outcomes.append('won')
        except engine.AgentSecretError as exc:
            outcomes.append(str(exc))
    threads = [threading.Thread(target=rotate) for _thread in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes)[1] == 'won' and 'another writer changed the secret first; nothing written' in sorted(outcomes)[0]
    assert kv.current_version('agents/bot-race') == 2  # exactly one new version
    race = [e for e in audit_entries(work) if e['subject'] == 'bot-race' and e['actor'] == 'race']
    assert sorted(e['outcome'] for e in race) == ['failure', 'success']
    current_fp = fp(kv.read('agents/bot-race')[0])
    assert [e for e in race if e['outcome'] == 'success'][0]['details']['new_fingerprint'] == current_fp


def test_no_secret_value_anywhere(work, kv):
    """Last: every value the backend ever held for these agents, and the supplied one, appears nowhere."""
    values = {SUPPLIED}
    for path in PATHS:
        for version in range(1, kv.current_version(path) + 1):
            values.add(kv.read(path, version)[0])
    count = len(values)
    assert count >= 10
    haystacks = list(work['ansible'].outputs)
    for root, _dirs, files in os.walk(str(work['path'])):
        for name in files:
            if name.endswith('.yml') and name.startswith(('supplied', 'rotate-same')):
                continue  # the playbooks that pass SUPPLIED as an argument, on purpose
            with open(os.path.join(root, name), errors='replace') as handle:
                haystacks.append(handle.read())
    assert verify(work['audit'])['ok']
    leaks = [value[:6] + '...' for value in values for text in haystacks if value in text]
    assert not leaks, 'secret values found in output, audit log or files: %s' % leaks
