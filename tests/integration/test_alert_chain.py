"""The real alert chain: Prometheus scrapes a model server on a container host, fires when it goes
down, Alertmanager posts (with a bearer token) to the real ansible-rulebook running the
aiops_alerts source, which finds the asset in the store discovery filled and decides."""

import contextlib
import json
import os
import re
import subprocess
import time
import types
import urllib.request

import yaml

from tests.hosts import testhosts
from tests.integration.conftest import BIN, FAKE_SERVERS, start_server, wait_listening
from tests.integration.test_event_source_rulebook import wait_port
from tests.ports import free_port

TOKEN = 'alertmanager-token-it-0004'
VLLM = ['python3', '-m', 'vllm.entrypoints.openai.api_server', '--model', 'facebook/opt-125m', '--host', '0.0.0.0',
        '--port', '8000']


def write(path, data):
    path.write_text(yaml.safe_dump(data))
    return str(path)


def start(argv, log):
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)


def stop(procs):
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def notifications_delivered(alertmanager_port):
    """How many webhook notifications Alertmanager has delivered (its own counters: attempted minus failed)."""
    with urllib.request.urlopen('http://127.0.0.1:%d/metrics' % alertmanager_port, timeout=5) as response:
        counters = dict(line.rsplit(' ', 1) for line in response.read().decode().splitlines()
                        if line.startswith('alertmanager_notifications') and 'integration="webhook"' in line)
    return int(float(counters['alertmanager_notifications_total{integration="webhook"}'])) - \
        int(float(counters['alertmanager_notifications_failed_total{integration="webhook"}']))


def wait_delivered(alertmanager_port, count, timeout=60):
    """Wait until Alertmanager has delivered count webhook notifications."""
    deadline = time.monotonic() + timeout
    while notifications_delivered(alertmanager_port) < count:
        assert time.monotonic() < deadline, 'Alertmanager delivered fewer than %d notifications' % count
        time.sleep(0.2)


@contextlib.contextmanager
def alerting(tmp_path, target, source_port, token, group_interval='1s', repeat_interval='1h', resolve_timeout='5m'):
    """Real Prometheus (1 s scrape and evaluation; ModelServerDown when the vllm job is down) and Alertmanager
    (posting to 127.0.0.1:source_port with a bearer token; its group_interval, repeat_interval and resolve_timeout
    as given), stopped on exit; yields their ports (.prometheus, .alertmanager)."""
    am_port, prom_port = free_port(), free_port()
    rules = write(tmp_path / 'rules.yml', {'groups': [{'name': 'ai', 'rules': [{
        'alert': 'ModelServerDown', 'expr': 'up{job="vllm"} == 0', 'for': '0s',
        'labels': {'severity': 'critical', 'confidence': '0.9'},
        'annotations': {'summary': 'vLLM on {{ $labels.instance }} is down'}}]}]})
    prometheus = write(tmp_path / 'prometheus.yml', {
        'global': {'scrape_interval': '1s', 'evaluation_interval': '1s'},
        'rule_files': [rules],
        'alerting': {'alertmanagers': [{'static_configs': [{'targets': ['127.0.0.1:%d' % am_port]}]}]},
        'scrape_configs': [{'job_name': 'vllm', 'static_configs': [{'targets': [target]}]}]})
    alertmanager = write(tmp_path / 'alertmanager.yml', {
        'global': {'resolve_timeout': resolve_timeout},
        'route': {'receiver': 'aigov', 'group_wait': '0s', 'group_interval': group_interval,
                  'repeat_interval': repeat_interval},
        'receivers': [{'name': 'aigov', 'webhook_configs': [{
            'url': 'http://127.0.0.1:%d/' % source_port, 'send_resolved': True,
            'http_config': {'authorization': {'type': 'Bearer', 'credentials': token}}}]}]})
    with open(str(tmp_path / 'services.log'), 'w') as log:
        services = [
            start(['prometheus-alertmanager', '--config.file=%s' % alertmanager, '--storage.path=%s' % (tmp_path / 'am'),
                   '--web.listen-address=127.0.0.1:%d' % am_port, '--cluster.listen-address='], log),
            start(['prometheus', '--config.file=%s' % prometheus, '--storage.tsdb.path=%s' % (tmp_path / 'tsdb'),
                   '--web.listen-address=127.0.0.1:%d' % prom_port], log),
        ]
        try:
            yield types.SimpleNamespace(prometheus=prom_port, alertmanager=am_port)
        finally:
            stop(services)


def test_model_server_down_reaches_the_rulebook_with_a_decision(ansible, ansible_env, tmp_path):
    with testhosts.test_hosts(1, 'aigov-ac-%d' % os.getpid(), str(tmp_path)) as hosts:
        host = hosts[0]
        testhosts.copy_into(host, FAKE_SERVERS, '/opt/fake')
        start_server(host, VLLM)
        wait_listening(host, 8000)
        inventory = testhosts.write_inventory(hosts, tmp_path / 'hosts.json')
        registry = write(tmp_path / 'registry.yml', {'schema_version': 1, 'use_cases': [
            {'id': 'lab-llm', 'risk_tier': 'minimal', 'owners': {'decision': 'lab-team', 'escalation': 'lab-on-call'},
             'assets': [{'inventory_hostname': host.name}]}]})
        store = str(tmp_path / 'store.sqlite3')
        proc = ansible.playbook('-i', inventory, 'aigov.core.discover', '-e', 'aigov_store_path=%s' % store,
                                '-e', 'aigov_registry=%s' % registry)
        assert proc.returncode == 0, proc.stdout[-3000:]

        source_port = free_port()
        rulebook = write(tmp_path / 'rulebook.yml', [{
            'name': 'Governed alerts', 'hosts': 'all',
            'sources': [{'aigov.core.aiops_alerts': {'port': source_port, 'token': TOKEN, 'store': store,
                                                     'registry': registry}}],
            'rules': [{'name': 'Automate', 'condition': 'event.decision.decision == "automate"',
                       'actions': [{'debug': {'msg': 'DECIDED {{ event.decision.decision }} {{ event.alert.name }} '
                                                     '{{ event.asset.inventory_hostname }} {{ event.decision.accountable }}'}},
                                   {'shutdown': None}]}]}])
        env = dict(ansible_env, JAVA_HOME=os.environ.get('JAVA_HOME', '/usr/lib/jvm/java-17-openjdk-amd64'))
        with alerting(tmp_path, '%s:8000' % host.address, source_port, TOKEN):
            inv = tmp_path / 'localhost.yml'
            inv.write_text('all:\n  hosts:\n    localhost:\n      ansible_connection: local\n')
            rulebook_proc = subprocess.Popen([os.path.join(BIN, 'ansible-rulebook'), '-r', rulebook, '-i', str(inv)],
                                             cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
                                             stderr=subprocess.STDOUT, text=True)
            try:
                wait_port(source_port, rulebook_proc)
                time.sleep(3)  # a few scrapes while the server is up
                killed = time.monotonic()
                testhosts.run_in(host, ['pkill', '-f', 'vllm.entrypoints'])
                output = rulebook_proc.communicate(timeout=90)[0]
                elapsed = time.monotonic() - killed
            finally:
                if rulebook_proc.poll() is None:
                    rulebook_proc.kill()
                    rulebook_proc.communicate()
    assert rulebook_proc.returncode == 0, output[-3000:]
    assert 'DECIDED automate ModelServerDown %s lab-team' % host.name in output, output[-3000:]
    assert TOKEN not in output
    print('model server killed -> decision in the rulebook: %.1f s' % elapsed)


def decisions(log):
    if not os.path.exists(log):
        return []
    with open(log) as handle:
        return [json.loads(line) for line in handle if '"action":"decision"' in line]


def wait_for(predicate, what, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, 'ansible-rulebook ended: %s' % proc.communicate()[0][-3000:]
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_an_outage_across_re_notifications_is_acted_on_once_and_a_new_episode_again(ansible, ansible_env, tmp_path):
    """Issue 12: Alertmanager re-sends the firing alert every second (group_interval and repeat_interval 1 s); the
    rulebook's action runs once for the whole outage; after it resolved, the same alert firing again (a new startsAt)
    is acted on again."""
    with testhosts.test_hosts(1, 'aigov-ep-%d' % os.getpid(), str(tmp_path)) as host_list:
        host = host_list[0]
        testhosts.copy_into(host, FAKE_SERVERS, '/opt/fake')
        start_server(host, VLLM)
        wait_listening(host, 8000)
        inventory = testhosts.write_inventory(host_list, tmp_path / 'hosts.json')
        registry = write(tmp_path / 'registry.yml', {'schema_version': 1, 'use_cases': [
            {'id': 'lab-llm', 'risk_tier': 'minimal', 'owners': {'decision': 'lab-team', 'escalation': 'lab-on-call'},
             'assets': [{'inventory_hostname': host.name}]}]})
        store, log = str(tmp_path / 'store.sqlite3'), str(tmp_path / 'audit.jsonl')
        proc = ansible.playbook('-i', inventory, 'aigov.core.discover', '-e', 'aigov_store_path=%s' % store,
                                '-e', 'aigov_registry=%s' % registry)
        assert proc.returncode == 0, proc.stdout[-3000:]
        source_port = free_port()
        rulebook = write(tmp_path / 'rulebook.yml', [{
            'name': 'Governed alerts', 'hosts': 'all',
            'sources': [{'aigov.core.aiops_alerts': {'port': source_port, 'token': TOKEN, 'store': store,
                                                     'registry': registry, 'audit_log': log}}],
            'rules': [{'name': 'Act', 'condition': 'event.decision.decision == "automate"',
                       'action': {'debug': {'msg': 'ACTED ON {{ event.alert.fingerprint }} {{ event.alert.starts_at }}'}}}]}])
        env = dict(ansible_env, JAVA_HOME=os.environ.get('JAVA_HOME', '/usr/lib/jvm/java-17-openjdk-amd64'))
        inv = tmp_path / 'localhost.yml'
        inv.write_text('all:\n  hosts:\n    localhost:\n      ansible_connection: local\n')
        with alerting(tmp_path, '%s:8000' % host.address, source_port, TOKEN, group_interval='1s', repeat_interval='1s',
                      resolve_timeout='5s') as ports:
            rulebook_proc = subprocess.Popen([os.path.join(BIN, 'ansible-rulebook'), '-r', rulebook, '-i', str(inv)],
                                             cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
                                             stderr=subprocess.STDOUT, text=True)
            try:
                wait_port(source_port, rulebook_proc)
                time.sleep(3)
                testhosts.run_in(host, ['pkill', '-f', 'vllm.entrypoints'])
                wait_for(lambda: len(decisions(log)) == 1, 'the outage was not decided', rulebook_proc)
                first = notifications_delivered(ports.alertmanager)
                wait_delivered(ports.alertmanager, first + 4)  # four more notifications of the same outage
                assert len(decisions(log)) == 1, decisions(log)
                start_server(host, VLLM)  # the outage ends: Alertmanager sends the resolution
                wait_listening(host, 8000)
                resolved = notifications_delivered(ports.alertmanager)
                wait_delivered(ports.alertmanager, resolved + 1)
                time.sleep(3)
                testhosts.run_in(host, ['pkill', '-f', 'vllm.entrypoints'])  # the same alert fires again
                wait_for(lambda: len(decisions(log)) == 2, 'the second outage was not decided', rulebook_proc)
                again = notifications_delivered(ports.alertmanager)
                wait_delivered(ports.alertmanager, again + 3)
                time.sleep(2)  # the rule's action for anything queued
            finally:
                rulebook_proc.terminate()
                try:
                    output = rulebook_proc.communicate(timeout=30)[0]
                except subprocess.TimeoutExpired:
                    rulebook_proc.kill()
                    output = rulebook_proc.communicate()[0]
    made = decisions(log)
    assert [entry['details']['decision'] for entry in made] == ['automate', 'automate'], made
    assert made[0]['details']['fingerprint'] == made[1]['details']['fingerprint']
    assert made[0]['details']['starts_at'] != made[1]['details']['starts_at']
    acted = re.findall(r'ACTED ON (\S+) (\S+)', output)
    assert len(acted) == 2 and len(set(acted)) == 2, output[-4000:]  # once per episode, never for a re-notification
    assert TOKEN not in output
