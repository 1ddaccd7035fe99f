"""The whole governed loop on real parts: a fake vLLM on a container host, discovery into the store,
Prometheus (1 s scrape and evaluation) and Alertmanager (bearer token) on 127.0.0.1, the shipped
aiops_remediation rulebooks in the real ansible-rulebook, remediation over SSH, the audit log.

Minimal risk: kill -> alert -> automate -> restarted -> Prometheus sees up. High risk: review ->
nothing runs until aigov.core.approve -> then it runs. Prints the alert-to-remediation time.
Episodes (issue 12), with ansible-rulebook's persistence: an outage across many re-notifications is
remediated once (and escalated once when the remediation did not end it); the next outage again."""

import datetime
import http.server
import json
import os
import socket
import threading
import time
import urllib.parse
import urllib.request

from ansible_collections.aigov.core.plugins.module_utils.alerts import spool
from ansible_collections.aigov.core.plugins.module_utils.audit import audit_verify
from tests.hosts import testhosts
from tests.integration.conftest import VLLM, VLLM_METRICS_STATUS, VLLM_RESTARTS, start_server
from tests.integration.test_alert_chain import (alerting, discovered_host, notifications_delivered, run_rulebook,
                                                wait_delivered, write)
from tests.integration.test_event_source_rulebook import wait_port
from tests.integration.test_remediation_rulebook import Webhook, entries, no_freeze_policy, wait_entries
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
    return run_rulebook(env, cwd, 'aigov.core.aiops_remediation', inventory, '--vars', variables)


def end(proc):
    if proc.poll() is None:
        proc.terminate()
    return proc.communicate(timeout=30)[0]


def test_alert_to_verified_remediation_automated_and_approved(ansible, ansible_env, tmp_path):
    env = ansible_env
    with discovered_host(ansible, tmp_path, 'aigov-rc', tiers=('minimal', 'high')) as lab:
        host, inventory, store, registries = lab.host, lab.inventory, lab.store, lab.registries
        log = str(tmp_path / 'audit.jsonl')
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


def restarts(host):
    """Runs of the restart script on the host, from its own log (independent of the audit log)."""
    result = testhosts.run_in(host, ['sh', '-c', 'cat %s 2>/dev/null | wc -l' % VLLM_RESTARTS])
    return int(result.stdout.strip())


def alertmanager_firing(port):
    """The alerts Alertmanager holds as firing (its API v2)."""
    with urllib.request.urlopen('http://127.0.0.1:%d/api/v2/alerts?active=true' % port, timeout=5) as response:
        return [alert for alert in json.load(response) if alert['status']['state'] == 'active']


def wait_resolved(port, timeout=60):
    deadline = time.monotonic() + timeout
    while alertmanager_firing(port):
        assert time.monotonic() < deadline, 'Alertmanager did not resolve the alert'
        time.sleep(0.2)


def active_target(port):
    """Prometheus' own view of its one target, the vllm server (health, lastScrape, ...)."""
    with urllib.request.urlopen('http://127.0.0.1:%d/api/v1/targets' % port, timeout=5) as response:
        [target] = json.load(response)['data']['activeTargets']
    return target


def target_health(port):
    """Prometheus' own view of the vllm target: 'up' or 'down'."""
    return active_target(port)['health']


def wait_spooled(log, status, proc, count=1, timeout=60):
    """Wait until the source has accepted count events of that status (its spool names every accepted event)."""
    deadline = time.monotonic() + timeout
    while True:
        with open(spool.spool_path(log)) as handle:  # a line being written is not complete yet: skipped
            if sum(1 for line in handle if '"status":"%s"' % status in line and line.endswith('\n') and
                   json.loads(line).get('event', {}).get('alert', {}).get('status') == status) >= count:
                return
        assert proc.poll() is None and time.monotonic() < deadline, 'no %s event reached the source' % status
        time.sleep(0.2)


def test_an_outage_across_re_notifications_is_remediated_once_and_a_new_episode_again(ansible, ansible_env, tmp_path):
    """Issue 12 on real parts, with ansible-rulebook's persistence (the shipped aiops_remediation_persistent, H2):
    Alertmanager re-sends the firing alert every second (group_interval and repeat_interval 1 s). Episode 1: the
    remediation restarts the server, which listens again but whose exporter answers 500, so the outage goes on
    across many re-notifications: one remediation, then one escalation (still firing after success). Episode 2,
    after it resolved, the same alert (a new startsAt): remediated again."""
    Webhook.bodies = []  # the escalation owner
    owner = http.server.HTTPServer(('127.0.0.1', 0), Webhook)
    threading.Thread(target=owner.serve_forever, daemon=True).start()
    try:
        with discovered_host(ansible, tmp_path, 'aigov-ep') as lab:
            host, log, source_port = lab.host, str(tmp_path / 'audit.jsonl'), free_port()
            variables = write(tmp_path / 'vars.yml', {
                'aigov_port': source_port, 'aigov_token': TOKEN, 'aigov_store_path': lab.store, 'aigov_audit_log': log,
                'aigov_registry': lab.registries['minimal'], 'aigov_guardrails': no_freeze_policy(tmp_path / 'guardrails.yml'),
                'aigov_escalation_webhook': 'http://127.0.0.1:%d/' % owner.server_port,
                # scrape and evaluation every second: a notification 5 s after a success shows whether it helped
                'aigov_still_firing_settle': 5, 'drools_db_file_path': str(tmp_path / 'h2' / 'eda')})
            with alerting(tmp_path, '%s:8000' % host.address, source_port, TOKEN, group_interval='1s',
                          repeat_interval='1s', resolve_timeout='5s') as ports:
                proc = run_rulebook(ansible_env, tmp_path, 'aigov.core.aiops_remediation_persistent', lab.inventory,
                                    '--vars', variables, '--persistence-id', '1', '--id', '1')
                try:
                    wait_port(source_port, proc, timeout=120)
                    prometheus_up(ports.prometheus)
                    testhosts.run_in(host, ['sh', '-c', 'echo 500 > %s' % VLLM_METRICS_STATUS])
                    before = notifications_delivered(ports.alertmanager)
                    testhosts.run_in(host, ['pkill', '-f', 'vllm.entrypoints'])
                    wait_entries(log, lambda e: e['action'] == 'remediation.outcome', 1, proc)
                    wait_state(host.address, 8000, True, 30)  # restarted and listening, still scraped as down
                    after_outcome = notifications_delivered(ports.alertmanager)
                    wait_entries(log, lambda e: e['action'] == 'escalation.notify', 1, proc)
                    wait_delivered(ports.alertmanager, after_outcome + 5)  # five more notifications of the outage
                    assert target_health(ports.prometheus) == 'down'  # it listens, but its exporter answers 500
                    episode_one, outage_notifications = entries(log), notifications_delivered(ports.alertmanager) - before
                    # The outage ends (mended by hand, not through the restart script): Alertmanager resolves it.
                    testhosts.run_in(host, ['sh', '-c', 'rm -f %s; pkill -f vllm.entrypoints; sleep 0.3' % VLLM_METRICS_STATUS])
                    start_server(host, VLLM + ['--port', '8000'])
                    prometheus_up(ports.prometheus)
                    wait_resolved(ports.alertmanager)
                    wait_spooled(log, 'resolved', proc)  # the source has the resolution
                    testhosts.run_in(host, ['pkill', '-f', 'vllm.entrypoints'])  # the same alert fires again
                    wait_entries(log, lambda e: e['action'] == 'remediation.outcome', 2, proc)
                    prometheus_up(ports.prometheus)
                    wait_resolved(ports.alertmanager)
                    wait_spooled(log, 'resolved', proc, count=2)
                    time.sleep(3)  # a second start, or a second escalation, would come now
                except AssertionError as exc:
                    output = end(proc)
                    with urllib.request.urlopen('http://127.0.0.1:%d/api/v1/targets' % ports.prometheus) as response:
                        targets = response.read().decode()
                    host_side = testhosts.run_in(host, ['sh', '-c', 'cat %s; ps -eo pid,lstart,args | grep [v]llm'
                                                        % VLLM_RESTARTS])
                    raise AssertionError('%s\nrulebook: %s\naudit: %s\nprometheus: %s\nhost: %s' % (
                        exc, output[-4000:], entries(log), targets, host_side.stdout))
                output = end(proc)
            host_restarts = restarts(host)
    finally:
        owner.shutdown()

    found = entries(log)
    decided = [e for e in found if e['action'] == 'decision' and e['details']['status'] == 'firing']
    assert [e['details']['decision'] for e in decided] == ['automate', 'escalate', 'automate'], decided
    first, still_firing, second = decided
    assert 'still firing after remediation' in still_firing['reasons'][0], still_firing
    assert still_firing['details']['starts_at'] == first['details']['starts_at'] != second['details']['starts_at']
    assert first['details']['fingerprint'] == still_firing['details']['fingerprint'] == second['details']['fingerprint']
    starts = [e['details']['payload_sha256'] for e in found if e['action'] == 'remediation.start']
    assert starts == [first['details']['payload_sha256'], second['details']['payload_sha256']], starts
    outcomes = [e for e in found if e['action'] == 'remediation.outcome']
    assert [e['outcome'] for e in outcomes] == ['success', 'success'], outcomes
    assert not [e for e in found if e['action'] == 'remediation.refused'], found
    assert host_restarts == 1 + 2  # serve_restartable_vllm's start, then one per episode
    assert [(body['decision']['decision'], body['decision']['accountable']) for body in Webhook.bodies] == [
        ('escalate', 'lab-on-call')], Webhook.bodies
    assert [e['action'] for e in episode_one].count('remediation.start') == 1
    # persistence was on (H2's file) and the engine confirmed every event: nothing waits in the spool
    assert os.path.exists(str(tmp_path / 'h2' / 'eda.mv.db'))
    assert spool.Spool(spool.spool_path(log)).load() == []
    assert audit_verify.verify(log)['ok']
    assert TOKEN not in output + open(log).read()
    print('\nepisode 1: %d notifications of one outage, 1 remediation.start, 1 escalation; episode 2: remediated again'
          % outage_notifications)
