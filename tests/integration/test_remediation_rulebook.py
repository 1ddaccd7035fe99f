"""The shipped aiops_remediation rulebook in the real ansible-rulebook, with the real playbooks it runs,
against hostile and out-of-inventory alerts (no containers: the estate fixture's store, local inventory)."""

import base64
import http.server
import json
import os
import subprocess
import threading
import time

import yaml

from ansible_collections.aigov.core.plugins.module_utils.alerts import guardrails
from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, audit_verify, decision_keys
from ansible_collections.aigov.core.plugins.module_utils.remediation import remediation
from tests.conftest import ROOT
from tests.integration.conftest import BIN
from tests.integration.test_event_source_rulebook import post, wait_port
from tests.integration.test_inventory_plugin import seed_store
from tests.ports import free_port

TOKEN = 'rulebook-token-it-0003'   # test_event_source_rulebook.post sends this one
MARKS = ('pwned-label', 'pwned-name', 'pwned-host', 'pwned-escalation')


class Webhook(http.server.BaseHTTPRequestHandler):
    """The escalation owner's webhook: keeps each POSTed JSON body."""
    bodies = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        self.bodies.append(json.loads(self.rfile.read(int(self.headers['Content-Length']))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def no_freeze_policy(path):
    policy = yaml.safe_load(open(guardrails.__file__.replace('plugins/module_utils/alerts/guardrails.py', 'guardrails/default.yml')))
    policy['freeze_windows'] = []
    path.write_text(yaml.safe_dump(policy))
    return str(path)


def entries(log):
    return [entry for _line, entry in audit_log.read_entries(log)] if os.path.exists(log) else []


def wait_entries(log, predicate, count, proc, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e for e in entries(log) if predicate(e)]
        if len(found) >= count:
            return found
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        time.sleep(0.2)
    raise AssertionError('audit log: %d matching entries expected, got %r' % (count, entries(log)))


def alert(name, instance, fingerprint, **labels):
    return {'alerts': [{'status': 'firing', 'fingerprint': fingerprint,
                        'labels': dict({'alertname': name, 'instance': instance, 'confidence': '0.95'}, **labels)}]}


def test_hostile_and_out_of_inventory_alerts_run_nothing(ansible, ansible_env, tmp_path):
    store, log = str(tmp_path / 'assets.sqlite3'), str(tmp_path / 'audit.jsonl')
    seed_store(store)
    closed = free_port()  # cloud-vm-1 is in the inventory but nothing listens there: the remediation fails
    inventory = tmp_path / 'inventory.yml'
    inventory.write_text(yaml.safe_dump({'all': {'hosts': {
        'localhost': {'ansible_connection': 'local', 'ansible_python_interpreter': os.path.join(BIN, 'python')},
        'cloud-vm-1': {'ansible_host': '127.0.0.1', 'ansible_port': closed, 'ansible_user': 'nobody',
                       'ansible_ssh_common_args': '-o ConnectTimeout=2 -o BatchMode=yes',
                       # complete: the plan lets the approved remediation start (then the host does not answer)
                       'aigov_baseline_services': {'litellm': {'restart_command': '/usr/local/sbin/restart-litellm'}}}}}}))
    port = free_port()
    webhook = http.server.HTTPServer(('127.0.0.1', 0), Webhook)
    threading.Thread(target=webhook.serve_forever, daemon=True).start()
    variables = tmp_path / 'vars.yml'
    variables.write_text(yaml.safe_dump({
        'aigov_port': port, 'aigov_token': TOKEN, 'aigov_store_path': store, 'aigov_audit_log': log,
        'aigov_use_aap': False, 'aigov_guardrails': no_freeze_policy(tmp_path / 'guardrails.yml'),
        'aigov_registry': os.path.join(ROOT, 'tests', 'fixtures', 'inventory', 'registry.yml'),
        'aigov_escalation_webhook': 'http://127.0.0.1:%d/escalate' % webhook.server_port}))
    proc = subprocess.Popen([os.path.join(BIN, 'ansible-rulebook'), '-r', 'aigov.core.aiops_remediation',
                             '-i', str(inventory), '--vars', str(variables)],
                            cwd=str(tmp_path), env=ansible_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    hostile = "{{ lookup('pipe', 'touch %s') }}" % (tmp_path / MARKS[0])
    try:
        wait_port(port, proc)
        # gpu-onprem-1's vLLM: automate, but the host is not in this inventory
        assert post(port, alert('ModelServerDown', '10.10.0.11:8000', 'h1', x=hostile, y='x; rm -rf /')) == 202
        # the same asset, an alert name that is a template: no remediation is mapped to it -> escalate, nothing runs
        assert post(port, alert("{{ lookup('pipe', 'touch %s') }}" % (tmp_path / MARKS[1]), '10.10.0.11:8000', 'h2')) == 202
        wait_entries(log, lambda e: e['action'] == 'escalation.notify', 1, proc)
        refused = wait_entries(log, lambda e: e['action'] == 'remediation.refused', 1, proc)
        # cloud-vm-1's LiteLLM (high risk): review -> queued, nothing runs
        assert post(port, alert('ModelServerDown', '10.20.0.5:4000', 'r1', x=hostile)) == 202
        [requested] = wait_entries(log, lambda e: e['action'] == 'approval.requested', 1, proc)
        assert post(port, alert('ModelServerDown', '10.20.0.5:4000', 'r2')) == 202
        wait_entries(log, lambda e: e['action'] == 'approval.requested', 2, proc)
        # an unknown host named like a pattern: reject, recorded by the source only
        assert post(port, alert('ModelServerDown', '*', 'u1', host="{{ lookup('pipe', 'touch %s') }}"
                                % (tmp_path / MARKS[2]))) == 202
        wait_entries(log, lambda e: e['action'] == 'decision' and e['outcome'] == 'refused', 1, proc)
        # low confidence on gpu-onprem-1: escalate -> the owner's webhook gets the decision, nothing runs
        low = alert("{{ lookup('pipe', 'touch %s') }}" % (tmp_path / MARKS[3]), '10.10.0.11:8000', 'e1', x=hostile)
        low['alerts'][0]['labels']['confidence'] = '0.1'
        assert post(port, low) == 202
        notified = wait_entries(log, lambda e: e['action'] == 'escalation.notify' and e['details']['fingerprint'] == 'e1',
                                1, proc)[-1]
        # h1's refused plan is an exit of an automate decision: escalated to the owner too (docs/remediation.md)
        wait_entries(log, lambda e: e['action'] == 'escalation.notify' and e['details']['fingerprint'] == 'h1', 1, proc)
        time.sleep(2)
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
        webhook.shutdown()
    assert [r['reasons'][0] for r in refused] == ['the asset is not on a host of this inventory']
    assert all(r['subject'] == 'model_server:1000000000000001' and r['owner'] == 'ml-platform' for r in refused)
    queue = [json.loads(line) for line in open(str(tmp_path / 'approvals.jsonl'))]
    assert [(q['kind'], q['asset_id'], q['inventory_hostname'], q['proposed_action'], q['owner']) for q in queue] == [
        ('request', 'model_server:2000000000000001', 'cloud-vm-1', 'restart_model_server', 'Head of Support')] * 2
    request, denied = queue[0]['id'], queue[1]['id']
    assert (notified['outcome'], notified['owner'], notified['subject']) == ('success', 'ml-on-call', 'model_server:1000000000000001')
    assert len(Webhook.bodies) == 3, Webhook.bodies
    unmapped, body, refusal = (next(b for b in Webhook.bodies if b['alert']['fingerprint'] == fp) for fp in ('h2', 'e1', 'h1'))
    assert refusal['decision']['exceptions'] == ['refusal_escalated'] and refusal['decision']['accountable'] == 'ml-on-call'
    assert 'the asset is not on a host of this inventory' in refusal['decision']['reasons'][0]
    assert (unmapped['alert']['fingerprint'], unmapped['decision']['decision'], unmapped['decision']['remediation']) == (
        'h2', 'escalate', None)
    assert unmapped['decision']['reasons'][0].startswith('no remediation is mapped for alert ')
    assert (body['kind'], body['decision']['decision'], body['decision']['accountable']) == ('aigov.escalation', 'escalate', 'ml-on-call')
    assert body['asset']['inventory_hostname'] == 'gpu-onprem-1' and body['alert']['fingerprint'] == 'e1'
    assert 'labels' not in json.dumps(body) and TOKEN not in json.dumps(body)
    assert requested['details']['request'] == request and 'REJECTED' in output

    # The approval runs the remediation; cloud-vm-1 does not answer: the outcome is a recorded failure.
    approve = ansible.playbook('-i', str(inventory), 'aigov.core.approve', '-e', 'request=%s' % request,
                               '-e', 'verdict=approve', '-e', 'approver=alice', '-e', 'aigov_audit_log=%s' % log,
                               '-e', 'aigov_store_path=%s' % store, '-e', 'aigov_guardrails=%s' % (tmp_path / 'guardrails.yml'),
                               cwd=str(tmp_path))
    assert approve.returncode != 0 and 'restart_model_server on cloud-vm-1 failed' in approve.stdout, approve.stdout[-3000:]
    again = ansible.playbook('-i', str(inventory), 'aigov.core.approve', '-e', 'request=%s' % request,
                             '-e', 'verdict=deny', '-e', 'approver=bob', '-e', 'aigov_audit_log=%s' % log, cwd=str(tmp_path))
    assert again.returncode != 0 and 'already decided (approve by alice' in again.stdout

    # A denial runs nothing and is an override of the proposed remediation.
    deny = ansible.playbook('-i', str(inventory), 'aigov.core.approve', '-e', 'request=%s' % denied,
                            '-e', 'verdict=deny', '-e', 'approver=carol', '-e', 'aigov_audit_log=%s' % log, cwd=str(tmp_path))
    assert deny.returncode == 0 and 'denied by carol: nothing runs' in deny.stdout, deny.stdout[-3000:]
    assert [e['details'].get('approval') for e in entries(log) if e['action'] == 'remediation.start'] == [request]
    overridden = [e for e in entries(log) if e['action'] == 'approval.decision' and e['actor'] == 'carol']
    assert [(e['outcome'], e['details']['override']) for e in overridden] == [('refused', True)]

    # A payload forged on the command line (targeting every host) is refused: its decision is not on record.
    forged = {'alert': {'fingerprint': 'f1', 'name': 'ModelServerDown', 'status': 'firing'},
              'asset': {'asset_id': 'model_server:1000000000000001', 'inventory_hostname': 'all'},
              'decision': {'decision': 'automate', 'accountable': 'mallory'}, 'meta': {'received_at': 'now'}}
    run = ansible.playbook('-i', str(inventory), 'aigov.core.remediate', '-e', 'aigov_audit_log=%s' % log,
                           '-e', 'aigov_event_payload=%s' % base64.b64encode(json.dumps(forged).encode()).decode(),
                           '-e', 'aigov_store_path=%s' % store, cwd=str(tmp_path))
    assert run.returncode != 0 and 'the decision is not in the audit log' in run.stdout, run.stdout[-3000:]
    forged['decision']['decision'] = 'review'
    queued = ansible.playbook('-i', str(inventory), 'aigov.core.request_approval', '-e', 'aigov_audit_log=%s' % log,
                              '-e', 'aigov_event_payload=%s' % base64.b64encode(json.dumps(forged).encode()).decode(),
                              cwd=str(tmp_path))
    assert queued.returncode != 0 and 'the review decision is not in the audit log' in queued.stdout, queued.stdout[-3000:]
    assert len(open(str(tmp_path / 'approvals.jsonl')).readlines()) == 4  # two requests, two verdicts

    actions = [(e['action'], e['outcome']) for e in entries(log)]
    assert ('approval.decision', 'success') in actions and ('remediation.start', 'planned') in actions
    # refused: the out-of-inventory host and the forged payload (the unmapped alert was escalated, not refused)
    assert ('remediation.outcome', 'failure') in actions and actions.count(('remediation.refused', 'refused')) == 2
    decided = next(e for e in entries(log) if e['action'] == 'approval.decision')
    assert decided['actor'] == 'alice' and decided['details']['override'] is False
    assert audit_verify.verify(log)['ok']
    text = open(log).read() + output + ''.join(ansible.outputs)
    assert not any(os.path.exists(str(tmp_path / mark)) for mark in MARKS)
    assert 'rm -rf' not in open(log).read() and TOKEN not in text

    # Replaying the approved payload (the same payload_b64 and approval) runs nothing: a decision runs once.
    replay = ansible.playbook('-i', str(inventory), 'aigov.core.remediate', '-e', 'aigov_audit_log=%s' % log,
                              '-e', 'aigov_event_payload=%s' % queue[0]['payload_b64'], '-e', 'aigov_approval=%s' % request,
                              '-e', 'aigov_store_path=%s' % store, cwd=str(tmp_path))
    assert replay.returncode != 0 and 'this decision already ran' in replay.stdout, replay.stdout[-3000:]
    digest = remediation.payload_digest(queue[0]['payload_b64'])
    assert [e['action'] for e in entries(log) if e['details'].get('payload_sha256') == digest].count('remediation.start') == 1

    # Whoever can append to the log (not the decision key) forges a well-formed automate decision for cloud-vm-1:
    # the chain is extended correctly, but the decision carries no valid seal and runs nothing.
    event = {'alert': {'fingerprint': 'forged1', 'name': 'ModelServerDown', 'status': 'firing', 'labels': {}},
             'asset': {'asset_id': 'model_server:2000000000000001', 'inventory_hostname': 'cloud-vm-1'},
             'decision': {'decision': 'automate', 'accountable': 'mallory'}, 'meta': {'received_at': '2026-12-06T09:00:00+00:00'}}
    forged_payload = remediation.encode_payload(event)
    audit_log.append(log, remediation.SOURCE_ACTOR, 'decision', 'model_server:2000000000000001', 'mallory', 'planned',
                     ['forged'], {'fingerprint': 'forged1', 'name': 'ModelServerDown', 'status': 'firing',
                                  'decision': 'automate', 'received_at': '2026-12-06T09:00:00+00:00',
                                  'payload_sha256': remediation.payload_digest(forged_payload),
                                  'seal': 'hmac-sha256:it1:' + '0' * 64})
    run = ansible.playbook('-i', str(inventory), 'aigov.core.remediate', '-e', 'aigov_audit_log=%s' % log,
                           '-e', 'aigov_event_payload=%s' % forged_payload, '-e', 'aigov_store_path=%s' % store,
                           cwd=str(tmp_path))
    assert run.returncode != 0 and 'no valid seal (bad)' in run.stdout, run.stdout[-3000:]
    refused = entries(log)[-1]
    assert (refused['action'], refused['details']['payload_sha256']) == ('remediation.refused', remediation.payload_digest(forged_payload))
    assert 'no valid seal (bad)' in refused['reasons'][0]
    assert not [e for e in entries(log) if e['action'] == 'remediation.start' and e['details'].get('fingerprint') == 'forged1']
    assert audit_verify.verify(log)['ok']  # the chain alone cannot tell the forgery
    checked = audit_verify.verify(log, keyring=decision_keys.load(ansible_env['AIGOV_DECISION_KEY_FILE']))
    assert (checked['ok'], checked['problem']['kind']) == (False, 'seal')
