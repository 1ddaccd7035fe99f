"""The main job as AAP runs a job template: ansible-runner with a private data dir.

AAP hands the job a private data dir (env/extravars from the survey,
env/envvars, inventory/, project/) and runs it with ansible-runner; this
does the same through the ansible-runner Python API and checks the artifacts.
"""

import json
import os

import ansible_runner

from tests.integration.conftest import PLANTED_SECRETS, load_json
from tests.integration.test_compliance_scan import EXPECTED_FINDINGS

SURVEY = {'aigov_scan_hosts': 'testhosts', 'aigov_fail_on': 'critical', 'aigov_policy_packs': ['default']}


def write(path, content):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))


def test_compliance_scan_as_a_job_template(fleet, ansible_env, tmp_path):
    data_dir = tmp_path / 'job'
    report_dir = tmp_path / 'reports'
    write(data_dir / 'env' / 'extravars', dict(SURVEY, aigov_report_dir=str(report_dir)))
    write(data_dir / 'env' / 'envvars', {key: ansible_env[key] for key in (
        'ANSIBLE_COLLECTIONS_PATH', 'ANSIBLE_COLLECTIONS_SCAN_SYS_PATH', 'ANSIBLE_SSH_CONTROL_PATH_DIR',
        'ANSIBLE_HOST_KEY_CHECKING', 'PATH')})
    write(data_dir / 'inventory' / 'hosts.json', open(fleet.inventory).read())
    write(data_dir / 'project' / 'scan.yml', '---\n- name: Compliance scan\n  ansible.builtin.import_playbook: aigov.core.compliance_scan\n')

    run = ansible_runner.run(private_data_dir=str(data_dir), playbook='scan.yml', quiet=True, timeout=600)

    assert (run.status, run.rc) == ('successful', 0), run.stdout.read()[-3000:]
    events = list(run.events)
    discovered = {e['event_data']['host'] for e in events
                  if e['event'] == 'runner_on_ok' and e['event_data'].get('task_action') == 'aigov.core.ai_asset_facts'}
    assert discovered == {host.name for host in fleet.hosts}
    stats = [e for e in events if e['event'] == 'playbook_on_stats'][-1]['event_data']
    assert not stats['failures'] and not stats['dark']
    report = load_json(str(report_dir / 'compliance-report.json'))
    # The same two hosts as the compliance scan test; none of their findings is critical.
    assert report['summary']['findings'] == len(EXPECTED_FINDINGS) and report['summary']['threshold_exceeded'] is False

    # Nothing the job left behind (stdout, events, facts cache) holds a planted secret.
    for folder, _dirs, files in os.walk(str(data_dir)):
        for name in files:
            with open(os.path.join(folder, name), errors='replace') as handle:
                text = handle.read()
            assert not any(secret in text for secret in PLANTED_SECRETS), os.path.join(folder, name)
