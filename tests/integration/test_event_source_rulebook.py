"""The aiops_alerts source inside the real ansible-rulebook, loaded from the installed collection."""

import json
import os
import socket
import subprocess
import time
import urllib.request

import yaml

from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, audit_verify
from tests.conftest import ROOT
from tests.integration.conftest import BIN
from tests.integration.test_inventory_plugin import seed_store
from tests.ports import free_port

TOKEN = 'rulebook-token-it-0003'


def wait_port(port, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError('ansible-rulebook did not start listening on %d' % port)


def post(port, body, token=TOKEN):
    request = urllib.request.Request('http://127.0.0.1:%d/' % port, data=json.dumps(body).encode(),
                                     headers={'Content-Type': 'application/json', 'Authorization': 'Bearer ' + token})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_rulebook_acts_on_the_decision(ansible_env, tmp_path):
    store = tmp_path / 'aigov-data' / 'assets.sqlite3'
    seed_store(str(store))
    port = free_port()
    rulebook = tmp_path / 'smoke.yml'
    rulebook.write_text(yaml.safe_dump([{
        'name': 'Governed alerts', 'hosts': 'all',
        'sources': [{'aigov.core.aiops_alerts': {
            'port': port, 'token': TOKEN, 'store': str(store),
            'registry': os.path.join(ROOT, 'tests', 'fixtures', 'inventory', 'registry.yml')}}],
        'rules': [
            {'name': 'Automated', 'condition': 'event.decision.decision == "automate"',
             'actions': [{'debug': {'msg': 'AUTOMATE {{ event.asset.asset_id }} owner {{ event.decision.accountable }}'}},
                         {'shutdown': None}]},
            {'name': 'Everything else', 'condition': 'event.decision.decision != "automate"',
             'action': {'debug': {'msg': 'HELD {{ event.decision.decision }}'}}},
        ]}]))
    inventory = tmp_path / 'inventory.yml'
    inventory.write_text('all:\n  hosts:\n    localhost:\n      ansible_connection: local\n')
    env = dict(ansible_env, JAVA_HOME=os.environ.get('JAVA_HOME', '/usr/lib/jvm/java-17-openjdk-amd64'))
    proc = subprocess.Popen([os.path.join(BIN, 'ansible-rulebook'), '-r', str(rulebook), '-i', str(inventory)],
                            cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_port(port, proc)
        assert post(port, {'name': 'X'}, token='wrong') == 403
        unknown = {'alerts': [{'labels': {'alertname': 'ModelServerDown', 'instance': 'nowhere:1', 'confidence': '0.9'},
                               'fingerprint': 'u1'}]}
        assert post(port, unknown) == 202
        known = {'alerts': [{'labels': {'alertname': 'ModelServerDown', 'instance': '10.10.0.11:8000',
                                        'confidence': '0.95'}, 'fingerprint': 'k1'}]}
        assert post(port, known) == 202
        output = proc.communicate(timeout=60)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, output[-3000:]
    assert 'HELD reject' in output
    assert 'AUTOMATE model_server:1000000000000001 owner ml-platform' in output
    assert TOKEN not in output
    # The source ran in tmp_path with no audit_log argument: the documented default path.
    log = str(tmp_path / 'aigov-data' / 'audit.jsonl')
    assert audit_verify.verify(log)['ok']
    entries = [entry for _line, entry in audit_log.read_entries(log)]
    assert [(e['actor'], e['action'], e['subject'], e['outcome'], e['details']['decision'], e['owner'])
            for e in entries] == [
        ('aigov.core.aiops_alerts', 'decision', 'nowhere', 'refused', 'reject', None),
        ('aigov.core.aiops_alerts', 'decision', 'model_server:1000000000000001', 'planned', 'automate', 'ml-platform')]
    assert [e['details']['fingerprint'] for e in entries] == ['u1', 'k1'] and TOKEN not in open(log).read()
