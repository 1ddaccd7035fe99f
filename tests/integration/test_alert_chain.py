"""The real alert chain: Prometheus scrapes a model server on a container host, fires when it goes
down, Alertmanager posts (with a bearer token) to the real ansible-rulebook running the
aiops_alerts source, which finds the asset in the store discovery filled and decides.

The chain's parts are helpers here, shared with test_remediation_chain.py (the same chain with the
shipped rulebooks and the real remediation): discovered_host(), alerting(), run_rulebook()."""

import contextlib
import os
import subprocess
import time
import types
import urllib.request

import yaml

from tests.hosts import testhosts
from tests.integration.conftest import BIN, serve_restartable_vllm
from tests.integration.test_event_source_rulebook import wait_port
from tests.ports import free_port

TOKEN = 'alertmanager-token-it-0004'


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


def notification_counters(alertmanager_port):
    """Alertmanager's own counters of webhook notifications: (attempted, failed)."""
    with urllib.request.urlopen('http://127.0.0.1:%d/metrics' % alertmanager_port, timeout=5) as response:
        counters = dict(line.rsplit(' ', 1) for line in response.read().decode().splitlines()
                        if line.startswith('alertmanager_notifications') and 'integration="webhook"' in line)
    return (int(float(counters['alertmanager_notifications_total{integration="webhook"}'])),
            int(float(counters['alertmanager_notifications_failed_total{integration="webhook"}'])))


def notifications_delivered(alertmanager_port):
    """How many webhook notifications Alertmanager has delivered (attempted minus failed)."""
    attempted, failed = notification_counters(alertmanager_port)
    return attempted - failed


def wait_delivered(alertmanager_port, count, timeout=60):
    """Wait until Alertmanager has delivered count webhook notifications."""
    deadline = time.monotonic() + timeout
    while notifications_delivered(alertmanager_port) < count:
        assert time.monotonic() < deadline, 'Alertmanager delivered fewer than %d notifications (attempted, failed: %r)' % (
            count, notification_counters(alertmanager_port))
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


@contextlib.contextmanager
def discovered_host(ansible, tmp_path, prefix, tiers=('minimal',)):
    """One container host serving the fake vLLM on port 8000, restartable through its service definition
    (conftest.serve_restartable_vllm), discovered by the real aigov.core.discover into a store; one registry per risk
    tier in tiers, owning it as use case lab-llm (decision lab-team, escalation lab-on-call).
    Yields .host, .inventory (the host and localhost), .store, .registries ({tier: path})."""
    with testhosts.test_hosts(1, '%s-%d' % (prefix, os.getpid()), str(tmp_path)) as hosts:
        host = hosts[0]
        inventory = serve_restartable_vllm(host, tmp_path)
        registries = dict((tier, write(tmp_path / ('registry-%s.yml' % tier), {'schema_version': 1, 'use_cases': [
            {'id': 'lab-llm', 'risk_tier': tier, 'owners': {'decision': 'lab-team', 'escalation': 'lab-on-call'},
             'assets': [{'inventory_hostname': host.name}]}]})) for tier in tiers)
        store = str(tmp_path / 'assets.sqlite3')
        proc = ansible.playbook('-i', inventory, 'aigov.core.discover', '-e', 'aigov_store_path=%s' % store,
                                '-e', 'aigov_registry=%s' % registries[tiers[0]], '-e', 'aigov_scan_hosts=testhosts')
        assert proc.returncode == 0, proc.stdout[-3000:]
        yield types.SimpleNamespace(host=host, inventory=inventory, store=store, registries=registries)


def run_rulebook(env, cwd, rulebook, inventory, *args):
    """The real ansible-rulebook on rulebook (a path or a shipped aigov.core.* name), its output on a pipe."""
    env = dict(env, JAVA_HOME=os.environ.get('JAVA_HOME', '/usr/lib/jvm/java-17-openjdk-amd64'))
    return subprocess.Popen([os.path.join(BIN, 'ansible-rulebook'), '-r', rulebook, '-i', inventory] + list(args),
                            cwd=str(cwd), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_model_server_down_reaches_the_rulebook_with_a_decision(ansible, ansible_env, tmp_path):
    with discovered_host(ansible, tmp_path, 'aigov-ac') as lab:
        host = lab.host
        source_port = free_port()
        rulebook = write(tmp_path / 'rulebook.yml', [{
            'name': 'Governed alerts', 'hosts': 'all',
            'sources': [{'aigov.core.aiops_alerts': {'port': source_port, 'token': TOKEN, 'store': lab.store,
                                                     'registry': lab.registries['minimal'],
                                                     'audit_log': str(tmp_path / 'audit.jsonl')}}],
            'rules': [{'name': 'Automate', 'condition': 'event.decision.decision == "automate"',
                       'actions': [{'debug': {'msg': 'DECIDED {{ event.decision.decision }} {{ event.alert.name }} '
                                                     '{{ event.asset.inventory_hostname }} {{ event.decision.accountable }}'}},
                                   {'shutdown': None}]}]}])
        with alerting(tmp_path, '%s:8000' % host.address, source_port, TOKEN):
            rulebook_proc = run_rulebook(ansible_env, tmp_path, rulebook, lab.inventory)
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
