"""rebind_loopback through aigov.core.remediate on a real container host over SSH: the exposed vLLM's env file
is edited by ai_service_harden, the server restarted by its restart_command, and it then listens on loopback only.

The automate decision is appended to the audit log here as the event source writes it, sealed with the decision
key of the environment (the source itself is tested with the real chain in test_remediation_chain.py); the playbook
checks it is on record."""

import datetime
import os
import socket
import sqlite3

from ansible_collections.aigov.core.plugins.module_utils.audit import audit_verify
from tests.hosts import testhosts
from tests.integration.conftest import FAKE_SERVERS, record_decision, wait_listening
from tests.integration.test_alert_chain import write
from tests.integration.test_remediation_rulebook import entries, no_freeze_policy

RESTART = ('#!/bin/sh\npkill -f vllm.entrypoints; sleep 0.5\n. /etc/default/vllm\n'
           'cd / && PYTHONPATH=/opt/fake setsid nohup python3 -m vllm.entrypoints.openai.api_server '
           '--model facebook/opt-125m --host "$VLLM_HOST" --port 8000 >/dev/null 2>&1 </dev/null &\n')
SERVICES = {'vllm': {'env_file': '/etc/default/vllm', 'restart_command': '/usr/local/sbin/restart-vllm'}}


def reachable(address, port):
    try:
        with socket.create_connection((address, port), timeout=1):
            return True
    except OSError:
        return False


def test_exposed_server_is_rebound_to_loopback(ansible, tmp_path):
    with testhosts.test_hosts(1, 'aigov-rb-%d' % os.getpid(), str(tmp_path)) as hosts:
        host = hosts[0]
        testhosts.copy_into(host, FAKE_SERVERS, '/opt/fake')
        (tmp_path / 'restart-vllm').write_text(RESTART)
        (tmp_path / 'vllm.env').write_text('VLLM_HOST=0.0.0.0\n')
        testhosts.copy_into(host, tmp_path / 'restart-vllm', '/usr/local/sbin/restart-vllm')
        testhosts.copy_into(host, tmp_path / 'vllm.env', '/etc/default/vllm')
        testhosts.run_in(host, ['chmod', '755', '/usr/local/sbin/restart-vllm'])
        assert testhosts.run_in(host, ['/usr/local/sbin/restart-vllm']).returncode == 0
        wait_listening(host, 8000)
        assert reachable(host.address, 8000)
        inventory = str(testhosts.write_inventory(hosts, tmp_path / 'hosts.json',
                                                  hostvars={host.name: {'aigov_baseline_services': SERVICES}}))
        registry = write(tmp_path / 'registry.yml', {'schema_version': 1, 'use_cases': [
            {'id': 'lab-llm', 'risk_tier': 'minimal', 'owners': {'decision': 'lab-team'},
             'assets': [{'inventory_hostname': host.name}]}]})
        store, log = str(tmp_path / 'assets.sqlite3'), str(tmp_path / 'audit.jsonl')
        proc = ansible.playbook('-i', inventory, 'aigov.core.discover', '-e', 'aigov_store_path=%s' % store,
                                '-e', 'aigov_registry=%s' % registry)
        assert proc.returncode == 0, proc.stdout[-3000:]
        with sqlite3.connect(store) as db:  # the vLLM's asset id, read independently of the collection's code
            [(asset_id,)] = list(db.execute("SELECT id FROM assets WHERE kind = 'model_server' AND removed_at IS NULL"))
        received = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')
        event = {'alert': {'fingerprint': 'exp1', 'name': 'ModelServerExposed', 'status': 'firing'},
                 'asset': {'known': True, 'asset_id': asset_id, 'inventory_hostname': host.name},
                 'decision': {'decision': 'automate', 'accountable': 'lab-team', 'reasons': ['minimal']},
                 'meta': {'received_at': received}}
        payload = record_decision(log, event, ansible.env)
        args = ['-i', inventory, 'aigov.core.remediate', '-e', 'aigov_event_payload=%s' % payload,
                '-e', 'aigov_audit_log=%s' % log, '-e', 'aigov_store_path=%s' % store,
                '-e', 'aigov_guardrails=%s' % no_freeze_policy(tmp_path / 'guardrails.yml')]
        check = ansible.playbook(*(args + ['--check', '--diff']), cwd=str(tmp_path))
        assert check.returncode == 0 and '127.0.0.1' in check.stdout, check.stdout[-3000:]
        assert testhosts.run_in(host, ['cat', '/etc/default/vllm']).stdout == 'VLLM_HOST=0.0.0.0\n'
        assert reachable(host.address, 8000) and len(entries(log)) == 1  # nothing changed, nothing recorded
        run = ansible.playbook(*args, cwd=str(tmp_path))
        assert run.returncode == 0, run.stdout[-3000:]
        wait_listening(host, 8000)
        assert not reachable(host.address, 8000), 'the server still listens on its external address'
        env_file = testhosts.run_in(host, ['cat', '/etc/default/vllm']).stdout
    assert env_file == 'VLLM_HOST=127.0.0.1\n'
    actions = [(e['action'], e['outcome'], e['details'].get('remediation')) for e in entries(log)]
    assert actions == [('decision', 'planned', None), ('remediation.start', 'planned', 'rebind_loopback'),
                       ('remediation.outcome', 'success', 'rebind_loopback')]
    assert audit_verify.verify(log)['ok']
