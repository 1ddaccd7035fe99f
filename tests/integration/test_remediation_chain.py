"""The whole governed loop on real parts: a fake vLLM on a container host, discovery into the store,
Prometheus (1 s scrape and evaluation) and Alertmanager (bearer token) on 127.0.0.1, the shipped
aiops_remediation rulebook in the real ansible-rulebook, remediation over SSH, the audit log.

Minimal risk: kill -> alert -> automate -> restarted -> Prometheus sees up. High risk: review ->
nothing runs until aigov.core.approve -> then it runs. Prints the alert-to-remediation time."""

import datetime
import json
import os
import socket
import subprocess
import time
import urllib.parse
import urllib.request

from ansible_collections.aigov.core.plugins.module_utils.audit import audit_verify
from tests.hosts import testhosts
from tests.integration.conftest import BIN, serve_restartable_vllm
from tests.integration.test_alert_chain import alerting, wait_delivered, write
from tests.integration.test_event_source_rulebook import wait_port
from tests.integration.test_remediation_rulebook import entries, no_freeze_policy, wait_entries
from tests.ports import free_port

TOKEN = 'alertmanager-token-it-0006'


def listening(address, port):
    try:
        with socket.create_connection((address, port), timeout=0.3):
            return True
    except OSError:
        return False


def wait_state(address, port, up, timeout):
    """Seconds until address:port is (up) or is not (not up) accepting connections, polled every 50 ms."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if listening(address, port) == up:
            return time.time()
        time.sleep(0.05)
    raise AssertionError('%s:%d did not become %s within %d s' % (address, port, 'up' if up else 'down', timeout))


def prometheus_up(port, timeout=30):
    """Wait until Prometheus itself reports up{job="vllm"} == 1 (its HTTP API on 127.0.0.1)."""
    url = 'http://127.0.0.1:%d/api/v1/query?%s' % (port, urllib.parse.urlencode({'query': 'up{job="vllm"}'}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(url, timeout=5) as response:
            result = json.load(response)['data']['result']
        if result and result[0]['value'][1] == '1':
            return True
        time.sleep(0.5)
    raise AssertionError('Prometheus did not see the server up again')


def stamp(entry):
    return datetime.datetime.fromisoformat(entry['time']).timestamp()


def rulebook(inventory, variables, cwd, env):
    return subprocess.Popen([os.path.join(BIN, 'ansible-rulebook'), '-r', 'aigov.core.aiops_remediation', '-i', inventory,
                             '--vars', variables], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def end(proc):
    if proc.poll() is None:
        proc.terminate()
    return proc.communicate(timeout=30)[0]


def test_alert_to_verified_remediation_automated_and_approved(ansible, ansible_env, tmp_path):
    env = dict(ansible_env, JAVA_HOME=os.environ.get('JAVA_HOME', '/usr/lib/jvm/java-17-openjdk-amd64'))
    with testhosts.test_hosts(1, 'aigov-rc-%d' % os.getpid(), str(tmp_path)) as hosts:
        host = hosts[0]
        inventory = serve_restartable_vllm(host, tmp_path)
        registries = {}
        for tier in ('minimal', 'high'):
            registries[tier] = write(tmp_path / ('registry-%s.yml' % tier), {'schema_version': 1, 'use_cases': [
                {'id': 'lab-llm', 'risk_tier': tier, 'owners': {'decision': 'lab-team', 'escalation': 'lab-on-call'},
                 'assets': [{'inventory_hostname': host.name}]}]})
        store, log = str(tmp_path / 'assets.sqlite3'), str(tmp_path / 'audit.jsonl')
        proc = ansible.playbook('-i', inventory, 'aigov.core.discover', '-e', 'aigov_store_path=%s' % store,
                                '-e', 'aigov_registry=%s' % registries['minimal'], '-e', 'aigov_scan_hosts=testhosts')
        assert proc.returncode == 0, proc.stdout[-3000:]
        policy = no_freeze_policy(tmp_path / 'guardrails.yml')  # freezes in the bundled policy must not block the test

        source_port = free_port()

        def variables(tier):
            return write(tmp_path / ('vars-%s.yml' % tier), {
                'aigov_port': source_port, 'aigov_token': TOKEN, 'aigov_store_path': store, 'aigov_audit_log': log,
                'aigov_registry': registries[tier], 'aigov_guardrails': policy,
                'aigov_escalation_webhook': 'http://127.0.0.1:%d/' % free_port()})

        outputs = []
        with alerting(tmp_path, '%s:8000' % host.address, source_port, TOKEN) as ports:
            prom_port = ports.prometheus
            # 1. Minimal risk: automate.
            proc = rulebook(inventory, variables('minimal'), str(tmp_path), env)
            try:
                wait_port(source_port, proc)
                prometheus_up(prom_port)
                killed = time.time()
                testhosts.run_in(host, ['pkill', '-f', 'vllm.entrypoints'])
                wait_state(host.address, 8000, False, 10)
                back = wait_state(host.address, 8000, True, 90)
                [outcome] = wait_entries(log, lambda e: e['action'] == 'remediation.outcome', 1, proc)
                prometheus_up(prom_port)
            except AssertionError as exc:
                outputs.append(end(proc))
                raise AssertionError('%s\nrulebook: %s\naudit: %s' % (exc, outputs[-1][-4000:], entries(log)))
            else:
                outputs.append(end(proc))
            automated = entries(log)
            # 2. High risk: review; nothing runs until approved.
            proc = rulebook(inventory, variables('high'), str(tmp_path), env)
            try:
                wait_port(source_port, proc)
                # The same alert (same labels, same fingerprint) fires again below. Alertmanager notifies a group
                # only when its firing alerts differ from the last notification it delivered: until it has delivered
                # the resolution of the first outage (to the first rulebook, or after retries to this one), the new
                # outage looks unchanged and is held back for repeat_interval (1 h). Killing before that is a race
                # the test can lose when the resolution's delivery is slow (the receiver restarting under load).
                wait_delivered(ports.alertmanager, 2)  # the first outage's firing and its resolution
                testhosts.run_in(host, ['pkill', '-f', 'vllm.entrypoints'])
                wait_state(host.address, 8000, False, 10)
                [requested] = wait_entries(log, lambda e: e['action'] == 'approval.requested', 1, proc)
                time.sleep(5)
                assert not listening(host.address, 8000), 'a review decision ran a remediation'
            finally:
                outputs.append(end(proc))
            approve = ansible.playbook('-i', inventory, 'aigov.core.approve', '-e', 'verdict=approve',
                                       '-e', 'request=%s' % requested['details']['request'], '-e', 'approver=alice',
                                       '-e', 'aigov_audit_log=%s' % log, '-e', 'aigov_store_path=%s' % store,
                                       '-e', 'aigov_guardrails=%s' % policy, cwd=str(tmp_path))
            assert approve.returncode == 0, approve.stdout[-3000:]
            assert listening(host.address, 8000)
            prometheus_up(prom_port)

    assert outcome['outcome'] == 'success' and outcome['owner'] == 'lab-team', outcome
    chain = [(e['action'], e['outcome'], e['details'].get('decision')) for e in automated]
    assert chain[:3] == [('decision', 'planned', 'automate'), ('remediation.start', 'planned', 'automate'),
                         ('remediation.outcome', 'success', 'automate')], chain
    later = [(e['action'], e['outcome']) for e in entries(log)[len(automated):]]
    assert later == [('decision', 'planned'), ('approval.requested', 'planned'), ('approval.decision', 'success'),
                     ('remediation.start', 'planned'), ('remediation.outcome', 'success')], later
    assert entries(log)[len(automated)]['details']['decision'] == 'review'
    assert audit_verify.verify(log)['ok']
    text = open(log).read() + ''.join(outputs) + ''.join(ansible.outputs)
    assert TOKEN not in text

    decided, started = automated[0], automated[1]
    total = back - killed
    detect = stamp(decided) - killed
    dispatch = stamp(started) - stamp(decided)
    act = back - stamp(started)
    ours = started['details']['plan_ms'] / 1000.0
    print('\nalert-to-remediation (kill -> vLLM listening again): %.1f s\n'
          '  kill -> decision recorded (Prometheus 1 s scrape/eval, Alertmanager, aiops_alerts): %.1f s\n'
          '  decision -> remediation.start (ansible-rulebook, ansible-runner, ansible-playbook start, plan): %.1f s\n'
          '  remediation.start -> listening (SSH, ai_service_restart, the server starting): %.1f s\n'
          '  of which this collection\'s plan check: %.3f s' % (total, detect, dispatch, act, ours))
