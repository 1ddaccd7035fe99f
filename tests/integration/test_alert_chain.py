"""The real alert chain: Prometheus scrapes a model server on a container host, fires when it goes
down, Alertmanager posts (with a bearer token) to the real ansible-rulebook running the
aiops_alerts source, which finds the asset in the store discovery filled and decides."""

import contextlib
import os
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
def alerting(tmp_path, target, source_port, token):
    """Real Prometheus (1 s scrape and evaluation; ModelServerDown when the vllm job is down) and Alertmanager
    (posting to 127.0.0.1:source_port with a bearer token), stopped on exit; yields their ports
    (.prometheus, .alertmanager)."""
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
        'route': {'receiver': 'aigov', 'group_wait': '0s', 'group_interval': '1s', 'repeat_interval': '1h'},
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
