"""aigov.core.audit_verify in a real ansible-playbook run: an intact log passes, a tampered one fails naming the entry."""

import json
import sys

from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log

PLAYBOOK = """
- name: Verify the audit log
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Verify
      aigov.core.audit_verify:
        path: "{{ log }}"
        anchor: "{{ anchor | default(omit) }}"
      register: verified

    - name: Keep the result
      ansible.builtin.copy:
        content: "{{ verified | to_json }}"
        dest: "{{ out }}"
        mode: '0600'
"""


def _setup(tmp_path):
    log = tmp_path / 'audit.jsonl'
    for number in range(5):
        audit_log.append(str(log), 'ops', 'agent_secret.rotate', 'agent-%d' % number, 'team', 'success')
    (tmp_path / 'verify.yml').write_text(PLAYBOOK)
    (tmp_path / 'inv.json').write_text(json.dumps({'all': {'hosts': {'localhost': {
        'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}}}}))
    return log


def test_intact_log_passes_and_returns_an_anchor(ansible, tmp_path):
    log = _setup(tmp_path)
    out = tmp_path / 'out.json'
    proc = ansible.playbook('-i', tmp_path / 'inv.json', tmp_path / 'verify.yml', '-e', 'log=%s out=%s' % (log, out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    assert result['ok'] and result['entries'] == 5 and not result['changed']
    assert result['anchor']['seq'] == 5 and result['anchor']['hash'] == json.loads(log.read_text().splitlines()[-1])['hash']


def test_deleted_entry_fails_the_task_naming_it(ansible, tmp_path):
    log = _setup(tmp_path)
    lines = log.read_text().splitlines(True)
    log.write_text(''.join(lines[:2] + lines[3:]))
    proc = ansible.playbook('-i', tmp_path / 'inv.json', tmp_path / 'verify.yml', '-e', 'log=%s out=%s' % (log, tmp_path / 'o'))
    assert proc.returncode == 2
    assert 'is not intact (deleted): seq 3 deleted: missing before line 3 (seq 4)' in proc.stdout


def test_anchor_catches_a_truncated_log(ansible, tmp_path):
    log = _setup(tmp_path)
    anchor = {'seq': 5, 'hash': json.loads(log.read_text().splitlines()[-1])['hash']}
    log.write_text(''.join(log.read_text().splitlines(True)[:4]))
    extra = json.dumps({'log': str(log), 'out': str(tmp_path / 'o'), 'anchor': anchor})
    proc = ansible.playbook('-i', tmp_path / 'inv.json', tmp_path / 'verify.yml', '-e', extra)
    assert proc.returncode == 2
    assert 'anchor seq 5 is not in the log (last seq 4)' in proc.stdout
