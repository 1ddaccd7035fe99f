"""One rule for the shared files and relative paths, through the real ansible-playbook (docs/architecture.md, "Paths").

A role honours AIGOV_AUDIT_LOG as the modules do, and a relative path means the same file for
every module of a playbook that lives in a subdirectory: the directory ansible-playbook runs in,
never the playbook's own directory.
"""

import http.server
import json
import os
import shutil
import sys
import threading

import pytest

from tests.conftest import ROOT
from tests.integration.conftest import Ansible
from tests.ports import free_port

REGISTRY = os.path.join(ROOT, 'tests', 'fixtures', 'inventory', 'registry.yml')


@pytest.fixture
def agent_port():
    """An agent that accepts any key: the role's verification step, answered."""
    class Accept(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(('127.0.0.1', free_port()), Accept)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def local_inventory(path):
    path.write_text(json.dumps({'all': {'hosts': {'localhost': {
        'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}}}}))
    return path


def test_the_rotation_role_appends_to_the_audit_log_of_aigov_audit_log(ansible_env, agent_port, tmp_path):
    """The role's default was aigov-data/audit.jsonl, which hid the variable from the modules it calls."""
    project, elsewhere = tmp_path / 'project', tmp_path / 'audit'
    project.mkdir()
    (tmp_path / 'agent').mkdir()
    log = elsewhere / 'audit.jsonl'
    agent = dict(name='paths-bot', host='localhost', env_file=str(tmp_path / 'agent' / 'env'), env_var='AGENT_KEY',
                 restart_command=['true'], verify_url='http://127.0.0.1:%d/' % agent_port, prefix='sk-paths-')
    (project / 'vars.json').write_text(json.dumps(dict(
        agent_secret_rotation_agents=[agent], agent_secret_rotation_inventory_group='',
        agent_secret_rotation_backend={'backend': 'file', 'file_dir': str(tmp_path / 'secrets')},
        agent_secret_rotation_lock_dir=str(tmp_path / 'locks'))))
    ansible = Ansible(dict(ansible_env, AIGOV_AUDIT_LOG=str(log)))
    proc = ansible.playbook('-i', local_inventory(project / 'hosts.json'), 'aigov.core.rotate_agent_secrets',
                            '-e', '@vars.json', cwd=str(project))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    # the role's own entries (audit_append) and the one agent_secret writes, all in the variable's log
    assert [(e['action'], e['subject'], e['outcome']) for e in entries] == [
        ('agent_secret_rotation.rotate', 'paths-bot', 'planned'), ('agent_secret.create', 'paths-bot', 'success'),
        ('agent_secret_rotation.rotate', 'paths-bot', 'success')]
    assert not (project / 'aigov-data').exists(), os.listdir(str(project / 'aigov-data'))


PLAY = """
- name: Relative paths from a playbook in a subdirectory
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Record (nothing) in the store
      aigov.core.ai_asset_store:
        path: state/assets.sqlite3
        hosts: []
        registry: data/registry.yml
      register: stored
    - name: Read the same store back
      aigov.core.ai_policy_check:
        store: state/assets.sqlite3
        registry: data/registry.yml
      register: checked
    - name: Append to a relative audit log
      aigov.core.audit_append:
        path: state/audit.jsonl
        action: paths.check
        subject: store
        outcome: success
      register: appended
    - name: Keep what the modules resolved
      ansible.builtin.copy:
        content: "{{ {'store': stored.path, 'registry': checked.registry.path, 'audit': appended.msg} | to_json }}"
        dest: "{{ result_file }}"
        mode: '0600'
"""


def test_relative_paths_mean_the_same_file_for_every_module(ansible, tmp_path):
    """ai_policy_check and ai_asset_store's registry took the playbook's directory; the store's writer took cwd."""
    project = tmp_path / 'project'
    (project / 'playbooks' / 'nested').mkdir(parents=True)
    (project / 'data').mkdir()
    shutil.copy(REGISTRY, str(project / 'data' / 'registry.yml'))
    (project / 'playbooks' / 'nested' / 'paths.yml').write_text(PLAY)
    result = tmp_path / 'result.json'
    proc = ansible.playbook('-i', local_inventory(project / 'hosts.json'), 'playbooks/nested/paths.yml',
                            '-e', 'result_file=%s' % result, cwd=str(project))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    resolved = json.loads(result.read_text())
    assert resolved['store'] == str(project / 'state' / 'assets.sqlite3')
    assert resolved['registry'] == str(project / 'data' / 'registry.yml')
    assert str(project / 'state' / 'audit.jsonl') in resolved['audit'] and (project / 'state' / 'audit.jsonl').is_file()
    assert not (project / 'playbooks' / 'nested' / 'state').exists()
