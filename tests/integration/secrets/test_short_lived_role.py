"""Short-lived agent credentials through the agent_secret_rotation role (tasks/short_lived.yml), end to end.

Real OpenBao (a token role and an AppRole role, a rotator token holding only the
documented issuer policy), a real container host reached over SSH, real
ansible-playbook -vvv. The agents on the host validate their credential against
the same OpenBao (through an SSH tunnel to the controller's 127.0.0.1), so an
expired or revoked credential is refused. Checks go around the role: OpenBao's
API with the root token, the host through podman exec, the agents' own answers,
and OpenBao's raw audit device for every credential ever issued (the leak grep).
"""

import json
import os
import re
import subprocess
import sys
import time

import pytest
import requests

from ansible_collections.aigov.core.plugins.module_utils.audit.audit_verify import verify
from ansible_collections.aigov.core.plugins.module_utils.secrets.secret_backend import parse_time
from tests.conftest import ROOT
from tests.hosts import testhosts
from tests.integration.conftest import Ansible
from tests.integration.secrets.openbao import OpenBao
from tests.ports import free_port

AGENT = os.path.join(ROOT, 'tests', 'fixtures', 'short_lived_agent')
ISSUER_POLICY = """
path "secret/data/agents/*" { capabilities = ["create", "read", "update"] }
path "secret/metadata/agents/*" { capabilities = ["read", "list"] }
path "auth/token/create/agent-runtime" { capabilities = ["update"] }
path "auth/token/lookup-accessor" { capabilities = ["update"] }
path "auth/token/renew-accessor" { capabilities = ["update"] }
path "auth/token/revoke-accessor" { capabilities = ["update"] }
path "auth/approle/role/support-agent/secret-id" { capabilities = ["update"] }
path "auth/approle/role/support-agent/secret-id-accessor/*" { capabilities = ["update"] }
path "auth/approle/role/support-agent/role-id" { capabilities = ["read"] }
"""
# Asks the agent on this host with the credential from the environment (never argv or output): prints the status.
ASK = ('import os,sys,urllib.request,urllib.error\n'
       'req=urllib.request.Request("http://127.0.0.1:%s/" % sys.argv[1], headers={"Authorization": "Bearer "+os.environ["K"]})\n'
       'try:\n    print(urllib.request.urlopen(req, timeout=10).status)\n'
       'except urllib.error.HTTPError as e:\n    print(e.code)\n')
BAO_HEALTH = 'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1:8200/v1/sys/health", timeout=2).status)'


AUDIT_CONFIG = 'audit "file" "raw" {\n  options {\n    file_path = "%s"\n    log_raw = "true"\n  }\n}\n'


@pytest.fixture(scope='module')
def openbao(tmp_path_factory):
    """This module's own OpenBao, with a raw audit device: its log holds every credential issued, for the leak grep."""
    workdir = tmp_path_factory.mktemp('openbao-short-lived')
    (workdir / 'audit.hcl').write_text(AUDIT_CONFIG % (workdir / 'bao-audit.log'))
    bao = OpenBao(str(workdir), config=str(workdir / 'audit.hcl')).start()
    bao.auth = bao.setup_auth()
    bao.audit_log = workdir / 'bao-audit.log'
    yield bao
    bao.stop()


def setup_openbao(bao):
    """Token role, AppRole role (on the mount setup_auth enabled), the issuer's policy and its token."""
    bao.api('PUT', 'sys/policies/acl/agent-runtime', json={'policy': 'path "secret/data/runtime/*" { capabilities = ["read"] }'})
    bao.api('PUT', 'sys/policies/acl/credential-issuer', json={'policy': ISSUER_POLICY})
    bao.api('POST', 'auth/token/roles/agent-runtime', json={'allowed_policies': ['agent-runtime'], 'orphan': True,
                                                            'renewable': True})
    bao.api('POST', 'auth/approle/role/support-agent', json={'token_policies': ['agent-runtime'], 'token_ttl': '1m'})
    return bao.api('POST', 'auth/token/create', json={'policies': ['credential-issuer'], 'ttl': '2h'})['auth']['client_token']


@pytest.fixture(scope='module')
def estate(tmp_path_factory, openbao, ansible_env):
    workdir = tmp_path_factory.mktemp('short-lived')
    issuer_token = setup_openbao(openbao)
    with testhosts.test_hosts(1, 'aigov-sl-%d' % os.getpid(), str(workdir)) as hosts:
        host = hosts[0]
        testhosts.run_in(host, ['mkdir', '-p', '/opt/sl-agent', '/etc/sl-tok', '/etc/sl-sid', '/etc/sl-exp'])
        testhosts.copy_into(host, os.path.join(AGENT, 'agent.py'), '/opt/sl-agent/agent.py')
        testhosts.copy_into(host, os.path.join(AGENT, 'sl-agent-restart'), '/usr/local/bin/sl-agent-restart')
        # The host sees the controller's OpenBao (127.0.0.1 only) at its own 127.0.0.1:8200 through this tunnel.
        tunnel = subprocess.Popen(['ssh', '-i', host.identity_file, *testhosts.SSH_OPTIONS, '-N', '-o', 'ExitOnForwardFailure=yes',
                                   '-R', '8200:127.0.0.1:%d' % openbao.port, 'root@%s' % host.address])
        try:
            deadline = time.monotonic() + 20
            while testhosts.run_in(host, ['python3', '-c', BAO_HEALTH]).stdout.strip() != '200':
                assert tunnel.poll() is None and time.monotonic() < deadline, 'the SSH tunnel to OpenBao did not come up'
                time.sleep(0.5)
            inventory = json.loads(testhosts.write_inventory(hosts, workdir / 'hosts.json').read_text())
            inventory['all']['hosts'] = {'localhost': {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}}
            (workdir / 'inventory.json').write_text(json.dumps(inventory))
            agents = dict(
                tok=dict(name='sl-tok', credential_type='vault_token', token_role='agent-runtime', policies=['agent-runtime'],
                         env_var='AGENT_TOKEN', port=9100, mode='token', ttl='90s'),
                sid=dict(name='sl-sid', credential_type='approle_secret_id', approle_role='support-agent',
                         env_var='AGENT_SECRET_ID', role_id_var='AGENT_ROLE_ID', port=9101, mode='approle', ttl='90s'),
                exp=dict(name='sl-exp', credential_type='vault_token', token_role='agent-runtime', policies=['agent-runtime'],
                         env_var='AGENT_TOKEN', port=9102, mode='token', ttl='20s'))
            for agent in agents.values():
                port, mode = agent.pop('port'), agent.pop('mode')
                agent.update(owner='team-%s' % agent['name'], host=host.name, env_file='/etc/%s/env' % agent['name'],
                             restart_command=['/usr/local/bin/sl-agent-restart', agent['name'], str(port), mode],
                             verify_url='http://127.0.0.1:%d/' % port, port_=port)
            env = dict(ansible_env, BAO_ADDR=openbao.url, BAO_TOKEN=issuer_token)
            yield dict(workdir=workdir, host=host, agents=agents, ansible=Ansible(env), bao=openbao,
                       audit=str(workdir / 'audit.jsonl'))
        finally:
            tunnel.terminate()
            tunnel.wait(timeout=10)


def rotate(estate, names, force=(), flags=(), backend=None, **overrides):
    agents = [dict((k, v) for k, v in estate['agents'][name].items() if k != 'port_') for name in names]
    for agent in agents:
        agent.update(overrides)
    extra = dict(agent_secret_rotation_agents=agents, agent_secret_rotation_force=[estate['agents'][n]['name'] for n in force],
                 agent_secret_rotation_audit_log=estate['audit'], agent_secret_rotation_verify_retries=8,
                 agent_secret_rotation_backend=backend or {})
    (estate['workdir'] / 'vars.json').write_text(json.dumps(extra))
    return estate['ansible'].playbook('-vvv', '-i', estate['workdir'] / 'inventory.json', 'aigov.core.rotate_agent_secrets',
                                      '-e', '@%s' % (estate['workdir'] / 'vars.json'), *flags)


def record(estate, name):
    """The agent's credential record, read with the root token (never through the collection)."""
    data = estate['bao'].api('GET', 'secret/data/agents/%s/credential' % estate['agents'][name]['name'])['data']
    return json.loads(data['data']['value'])


def delivered(estate, name):
    """The credential in the agent's env file."""
    content = testhosts.run_in(estate['host'], ['cat', estate['agents'][name]['env_file']]).stdout
    return dict(line.split('=', 1) for line in content.splitlines())[estate['agents'][name]['env_var']]


def answers(estate, name, value):
    port = estate['agents'][name]['port_']
    return testhosts.run_in(estate['host'], ['python3', '-c', ASK, str(port)], env={'K': value}).stdout.strip()


def token_alive(estate, accessor):
    response = requests.post('%s/v1/auth/token/lookup-accessor' % estate['bao'].url, json={'accessor': accessor},
                             headers={'X-Vault-Token': estate['bao'].root_token}, timeout=10)
    return response.status_code == 200


def secret_id_alive(estate, accessor):
    response = requests.post('%s/v1/auth/approle/role/support-agent/secret-id-accessor/lookup' % estate['bao'].url,
                             json={'secret_id_accessor': accessor}, headers={'X-Vault-Token': estate['bao'].root_token}, timeout=10)
    return response.status_code == 200


def recap_changed(proc):
    return re.findall(r'changed=(\d+)', proc.stdout[proc.stdout.index('PLAY RECAP'):])


def test_first_run_issues_delivers_and_verifies(estate):
    proc = rotate(estate, ['tok', 'sid'])
    assert proc.returncode == 0, proc.stdout[-3000:]
    for name in ('tok', 'sid'):
        current = record(estate, name)['current']
        assert answers(estate, name, delivered(estate, name)) == '200' and answers(estate, name, 'wrong') == '401'
        assert record(estate, name)['previous'] == [] and current['accessor']
    assert token_alive(estate, record(estate, 'tok')['current']['accessor'])
    assert secret_id_alive(estate, record(estate, 'sid')['current']['accessor'])
    entries = [json.loads(line) for line in open(estate['audit'])]
    # each change by agent_credential, then the role's one entry for the agent's whole outcome
    assert [(e['action'], e['subject'], e['outcome']) for e in entries] == [
        ('agent_credential.issue', 'sl-tok', 'success'), ('agent_secret_rotation.rotate', 'sl-tok', 'success'),
        ('agent_credential.issue', 'sl-sid', 'success'), ('agent_secret_rotation.rotate', 'sl-sid', 'success')]
    assert entries[1]['details']['new_version'] == record(estate, 'tok')['current']['accessor']


def test_second_run_changes_nothing(estate):
    before = [record(estate, name) for name in ('tok', 'sid')]
    proc = rotate(estate, ['tok', 'sid'])
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert recap_changed(proc) == ['0'] and 'failed=0' in proc.stdout
    assert [record(estate, name) for name in ('tok', 'sid')] == before


def test_check_mode_predicts_and_changes_nothing(estate):
    before = [record(estate, name) for name in ('tok', 'sid')]
    files = [delivered(estate, name) for name in ('tok', 'sid')]
    entries = len(open(estate['audit']).readlines())
    proc = rotate(estate, ['tok', 'sid'], force=['sid'], flags=('--check', '--diff'))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert 'credential would be issued' in proc.stdout and 'accessor: (issued on apply)' in proc.stdout
    assert [record(estate, name) for name in ('tok', 'sid')] == before
    assert [delivered(estate, name) for name in ('tok', 'sid')] == files
    assert len(open(estate['audit']).readlines()) == entries


def test_near_expiry_token_renewed_and_secret_id_replaced(estate):
    token, old_sid = delivered(estate, 'tok'), delivered(estate, 'sid')
    tok_before, sid_before = record(estate, 'tok')['current'], record(estate, 'sid')['current']
    time.sleep(2)
    # Less than 99 % of the 90 s TTL left: both are due.
    proc = rotate(estate, ['tok', 'sid'], renew_threshold=0.99)
    assert proc.returncode == 0, proc.stdout[-3000:]
    tok_after, sid = record(estate, 'tok'), record(estate, 'sid')
    assert tok_after['current']['accessor'] == tok_before['accessor'] and delivered(estate, 'tok') == token
    assert tok_after['current']['expire_time'] > tok_before['expire_time'] and answers(estate, 'tok', token) == '200'
    assert sid['current']['accessor'] != sid_before['accessor'] and sid['previous'] == []
    assert not secret_id_alive(estate, sid_before['accessor']) and secret_id_alive(estate, sid['current']['accessor'])
    assert delivered(estate, 'sid') != old_sid and answers(estate, 'sid', delivered(estate, 'sid')) == '200'
    actions = [json.loads(line)['action'] for line in open(estate['audit'])][-5:]
    assert actions == ['agent_credential.renew', 'agent_secret_rotation.rotate', 'agent_credential.issue',
                       'agent_credential.commit', 'agent_secret_rotation.rotate']


def test_failed_verification_revokes_the_new_and_keeps_the_old(estate):
    old_value, old = delivered(estate, 'sid'), record(estate, 'sid')['current']
    testhosts.run_in(estate['host'], ['touch', '/etc/sl-sid/frozen'])  # the restart now keeps the old credential
    try:
        proc = rotate(estate, ['sid'], force=['sid'])
    finally:
        testhosts.run_in(estate['host'], ['rm', '-f', '/etc/sl-sid/frozen'])
    assert proc.returncode == 2
    assert 'agent sl-sid: the new approle_secret_id' in proc.stdout and 'rolled back' in proc.stdout
    assert 'and the agent authenticates with it' in proc.stdout  # the role verified the restored credential
    now = record(estate, 'sid')
    assert now['current']['accessor'] == old['accessor'] and now['previous'] == []
    assert secret_id_alive(estate, old['accessor']) and delivered(estate, 'sid') == old_value
    assert answers(estate, 'sid', old_value) == '200'
    last = [json.loads(line) for line in open(estate['audit'])][-3:]
    assert [e['action'] for e in last] == ['agent_credential.issue', 'agent_credential.rollback', 'agent_secret_rotation.rotate']
    assert last[2]['outcome'] == 'rolled_back'
    assert 'sl-sid on ' in proc.stdout and ': rolled_back (' in proc.stdout  # the run's summary line
    assert last[1]['details']['revoked_accessors'] == [last[0]['details']['new_accessor']]
    assert last[2]['details']['new_version'] == last[0]['details']['new_accessor']
    assert not secret_id_alive(estate, last[0]['details']['new_accessor'])
    assert testhosts.run_in(estate['host'], ['ls', '/etc/sl-sid']).stdout.split() == ['env']  # no copy left behind


def test_expired_token_refused_by_the_agent_then_replaced(estate):
    proc = rotate(estate, ['exp'])
    assert proc.returncode == 0, proc.stdout[-3000:]
    token, first = delivered(estate, 'exp'), record(estate, 'exp')['current']
    expiry = parse_time(first['expire_time']).timestamp()
    time.sleep(max(0.0, expiry - time.time()) + 1)  # the 20 s TTL ran out
    assert answers(estate, 'exp', token) == '401' and not token_alive(estate, first['accessor'])
    proc = rotate(estate, ['exp'])
    assert proc.returncode == 0, proc.stdout[-3000:]
    issue, commit, outcome = [json.loads(line) for line in open(estate['audit'])][-3:]
    assert (outcome['action'], outcome['outcome']) == ('agent_secret_rotation.rotate', 'success')
    assert issue['action'] == 'agent_credential.issue' and 'expired or was revoked' in issue['reasons'][0]
    assert commit['action'] == 'agent_credential.commit' and commit['details']['revoked_accessors'] == [first['accessor']]
    assert delivered(estate, 'exp') != token and answers(estate, 'exp', delivered(estate, 'exp')) == '200'


def test_unreachable_backend_changes_nothing(estate):
    before = [record(estate, name) for name in ('tok', 'sid')]
    files = [delivered(estate, name) for name in ('tok', 'sid')]
    port = free_port()
    proc = rotate(estate, ['tok', 'sid'], force=['tok'], backend={'url': 'http://127.0.0.1:%d' % port, 'timeout': 2})
    assert proc.returncode == 2
    assert ('agent sl-tok: vault backend http://127.0.0.1:%d (mount secret), path agents/sl-tok/credential: unreachable'
            % port) in proc.stdout
    assert [record(estate, name) for name in ('tok', 'sid')] == before
    assert [delivered(estate, name) for name in ('tok', 'sid')] == files


FINDINGS_PLAY = """
- name: Discover credentials on the agents' host
  hosts: testhosts
  gather_facts: false
  tasks:
    - name: Discover
      aigov.core.ai_asset_facts:
        probes: [credential]
        credential_files: ['/opt/*/.env', '/etc/sl-static/env']

- name: Baseline plus agent secret findings, one report
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Policy check
      aigov.core.ai_policy_check:
        hosts: "{{ groups['testhosts'] }}"
      register: scan

    - name: Agent secret findings
      aigov.core.agent_secret_findings:
        agents: "{{ agents }}"
        max_age: 30d
        hosts: "{{ groups['testhosts'] }}"
        check: "{{ scan }}"
      register: secret_findings

    - name: Report
      aigov.core.ai_report:
        check: "{{ secret_findings.check }}"
        dest: "{{ report_dir }}"
        formats: [json]

    - name: Every agent in the backend (listed, no delivered files known)
      aigov.core.agent_secret_findings:
        assets: []
      register: listed

    - name: Keep what the listing found
      ansible.builtin.copy:
        content: "{{ listed | to_json }}"
        dest: "{{ report_dir }}/listed.json"
        mode: '0600'
"""


def test_findings_shared_and_plaintext_copies_in_the_report(estate):
    """A static secret shared by two agents, delivered to one, copied to /opt/app/.env; the short-lived token copied too."""
    bao, host = estate['bao'], estate['host']
    static = 'sk-agent-PLAINTEXTcopy' + os.urandom(8).hex()
    for name in ('sl-static', 'sl-static2'):
        bao.api('POST', 'secret/data/agents/%s' % name, json={'data': {'value': static}})
    token = delivered(estate, 'tok')
    testhosts.run_in(host, ['mkdir', '-p', '/etc/sl-static', '/opt/app', '/opt/tok'])
    for path, value in (('/etc/sl-static/env', static), ('/opt/app/.env', static), ('/opt/tok/.env', token)):
        testhosts.run_in(host, ['sh', '-c', 'umask 077; printf "OPENAI_API_KEY=%s\\n" "$V" > ' + path], env={'V': value})
    agents = [dict(name='sl-static', host=host.name, env_file='/etc/sl-static/env'), 'sl-static2',
              dict(name='sl-tok', host=host.name, env_file=estate['agents']['tok']['env_file'])]
    (estate['workdir'] / 'findings.yml').write_text(FINDINGS_PLAY)
    (estate['workdir'] / 'findings-vars.json').write_text(json.dumps(dict(agents=agents, report_dir=str(estate['workdir'] / 'report'))))
    proc = estate['ansible'].playbook('-vvv', '-i', estate['workdir'] / 'inventory.json', estate['workdir'] / 'findings.yml',
                                      '-e', '@%s' % (estate['workdir'] / 'findings-vars.json'))
    assert proc.returncode == 0, proc.stdout[-3000:]
    report = json.loads((estate['workdir'] / 'report' / 'compliance-report.json').read_text())
    ours = [f for f in report['findings'] if f['pack'] == 'aigov.core/agent-secrets']
    shared = sorted(f['asset_name'] for f in ours if f['rule_id'] == 'AIGOV-AS-002')
    copies = sorted(e['path'] for f in ours if f['rule_id'] == 'AIGOV-AS-003' for e in f['evidence'] if e['type'] == 'file')
    assert shared == ['sl-static', 'sl-static2'] and copies == ['/opt/app/.env', '/opt/tok/.env']
    assert report['summary']['findings'] >= 4 and 'AIGOV-AS-003' in [r['rule_id'] for r in report['rules']]
    listed = json.loads((estate['workdir'] / 'report' / 'listed.json').read_text())
    assert listed['summary']['agents'] == 5  # sl-exp, sl-sid, sl-static, sl-static2, sl-tok
    assert sorted(f['asset_name'] for f in listed['findings']) == ['sl-static', 'sl-static2']
    assert static not in proc.stdout and static not in json.dumps(report) and token not in json.dumps(report)


def test_no_credential_in_any_output(estate):
    issued = set()
    with open(estate['bao'].audit_log) as log:
        for line in log:
            entry = json.loads(line)
            if entry.get('type') != 'response':
                continue
            response, path = entry.get('response') or {}, (entry.get('request') or {}).get('path', '')
            if path.startswith('auth/token/create/agent-runtime'):
                issued.add(response['auth']['client_token'])
            elif path.endswith('/secret-id'):
                issued.add(response['data']['secret_id'])
    assert len(issued) >= 6
    records = json.dumps([record(estate, name) for name in ('tok', 'sid', 'exp')])
    haystacks = list(estate['ansible'].outputs) + [open(estate['audit']).read(), records]
    assert verify(estate['audit'])['ok']
    leaks = [value[:6] + '...' for value in issued for text in haystacks if value in text]
    assert not leaks, 'credentials found in output, the audit log or the records: %s' % leaks
