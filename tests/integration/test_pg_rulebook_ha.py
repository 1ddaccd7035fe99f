"""Two real ansible-rulebook instances with `--persistence-id` on PostgreSQL (their HA state) and the aiops_alerts source
on the same server (aigov's audit log, asset store, episode memory): both run, every alert sent to either is decided
once, sealed, in the one chain, and reaches a rule; the same alert sent to both at once is decided and reaches a rule
once; with one instance stopped the other goes on.

ansible-rulebook 1.3.2 run by hand makes every instance a leader ("Enabling leader mode"); which one leads is decided by
EDA's activation (docs/fleet-scale.md, "ansible-rulebook in HA"), so this checks what the collection owes under it."""

import concurrent.futures
import json
import os
import subprocess
import time
import urllib.error
import urllib.request

import yaml

from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, audit_verify, decision_keys
from tests import pg
from tests.conftest import ROOT
from tests.integration.conftest import BIN
from tests.integration.test_event_source_rulebook import wait_port
from tests.integration.test_inventory_plugin import seed_store
from tests.ports import free_port

TOKEN = 'ha-token-it-0016'


def _post(port, fingerprint):
    body = json.dumps({'version': '4', 'status': 'firing', 'alerts': [{
        'status': 'firing', 'fingerprint': fingerprint, 'startsAt': '2026-12-06T10:00:00Z',
        'labels': {'alertname': 'ModelServerDown', 'instance': '10.10.0.11:8000', 'confidence': '0.9'}}]}).encode()
    request = urllib.request.Request('http://127.0.0.1:%d/' % port, data=body, headers={
        'Content-Type': 'application/json', 'Authorization': 'Bearer ' + TOKEN})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


def _post_retrying(port, fingerprint, tries=100):
    """The status of the last post; a 503 (another instance is deciding that episode right now) is retried, as
    Alertmanager retries."""
    for _attempt in range(tries):
        try:
            return _post(port, fingerprint)
        except urllib.error.HTTPError as exc:
            if exc.code != 503:
                raise
        time.sleep(0.2)
    return 503


def _reached(tmp_path, number):
    text = open(str(tmp_path / ('rulebook-%d.log' % number))).read()
    return sorted(line.split('REACHED ', 1)[1].split()[0].strip('\'"') for line in text.splitlines() if 'REACHED ha-' in line)


def _same(tmp_path, number):
    return [name for name in _reached(tmp_path, number) if name.startswith('ha-same-')]


def test_two_instances_on_postgresql(ansible_env, pg_cluster, pg_database, tmp_path):
    seed_store(pg_database)
    drools = pg_cluster.create_database('eda_ha').rsplit('/', 1)[1]
    rulebook = [{'name': 'aigov HA', 'hosts': 'all', 'sources': [{'aigov.core.aiops_alerts': {
        'host': '127.0.0.1', 'port': '{{ aigov_port }}', 'token': TOKEN, 'store': pg_database, 'audit_log': pg_database,
        'registry': os.path.join(ROOT, 'tests', 'fixtures', 'inventory', 'registry.yml')}}],
        'rules': [{'name': 'Every firing alert', 'condition': 'event.alert.status == "firing"',
                   'action': {'debug': {'msg': 'REACHED {{ event.alert.fingerprint }}'}}}]}]
    (tmp_path / 'rulebook.yml').write_text(yaml.safe_dump(rulebook))
    (tmp_path / 'inventory.yml').write_text(yaml.safe_dump({'all': {'hosts': {'localhost': {
        'ansible_connection': 'local', 'ansible_python_interpreter': os.path.join(BIN, 'python')}}}}))
    env = dict(ansible_env, PYTHONUNBUFFERED='1', JAVA_HOME=os.environ.get('JAVA_HOME', '/usr/lib/jvm/java-17-openjdk-amd64'),
               **pg_cluster.env())
    procs, ports = [], []
    try:
        for number in (1, 2):
            ports.append(free_port())
            variables = tmp_path / ('vars-%d.yml' % number)
            variables.write_text(yaml.safe_dump({  # ansible-rulebook's own HA state: its documented drools_db_* variables
                'aigov_port': ports[-1], 'drools_db_host': '127.0.0.1', 'drools_db_port': pg_cluster.port,
                'drools_db_name': drools, 'drools_db_user': pg.USER, 'drools_db_password': pg.PASSWORD}))
            procs.append(subprocess.Popen(
                [os.path.join(BIN, 'ansible-rulebook'), '-r', 'rulebook.yml', '-i', 'inventory.yml', '--vars', str(variables),
                 '--persistence-id', '16', '--id', str(number)], cwd=str(tmp_path), env=env, text=True,
                stdout=open(str(tmp_path / ('rulebook-%d.log' % number)), 'w'), stderr=subprocess.STDOUT))
        for port, proc in zip(ports, procs):
            wait_port(port, proc, timeout=180)
        assert [_post(port, 'ha-%d-%d' % (index, n)) for n in range(5) for index, port in enumerate(ports)] == [202] * 10
        deadline = time.monotonic() + 60
        while len(_reached(tmp_path, 1)) < 5 and time.monotonic() < deadline:
            time.sleep(0.5)
        # The same alerts sent to both instances at once (both lead when run by hand): each episode is decided by one
        # of them (alerts/episode_claims.py), a duplicate at the other, and reaches a rule once.
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            same = list(pool.map(lambda job: _post_retrying(*job), [(port, 'ha-same-%d' % n) for n in range(3) for port in ports]))
        assert same == [202] * 6
        deadline = time.monotonic() + 60
        while len(_same(tmp_path, 1) + _same(tmp_path, 2)) < 3 and time.monotonic() < deadline:
            time.sleep(0.5)
        procs[0].terminate()  # one instance goes away: the other goes on
        procs[0].wait(60)
        assert [_post(ports[1], 'ha-after-%d' % n) for n in range(3)] == [202] * 3
        deadline = time.monotonic() + 60
        while len(_reached(tmp_path, 2)) - len(_same(tmp_path, 2)) < 8 and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(60)
    assert sorted(_same(tmp_path, 1) + _same(tmp_path, 2)) == ['ha-same-%d' % n for n in range(3)]  # once each
    assert [name for name in _reached(tmp_path, 1) if name not in _same(tmp_path, 1)] == sorted('ha-0-%d' % n for n in range(5))
    assert [name for name in _reached(tmp_path, 2) if name not in _same(tmp_path, 2)] == sorted(
        ['ha-1-%d' % n for n in range(5)] + ['ha-after-%d' % n for n in range(3)])
    # ansible-rulebook kept its HA state in PostgreSQL (its own tables, in its own database)
    assert 'drools_ansible_session_state' in pg_cluster.psql(drools, '\\dt')
    assert int(pg_cluster.psql(drools, 'SELECT count(*) FROM drools_ansible_ha_stats')) >= 1
    decisions = [entry for _n, entry in audit_log.read_entries(pg_database) if entry['action'] == 'decision']
    assert sorted(entry['details']['fingerprint'] for entry in decisions) == sorted(
        ['ha-%d-%d' % (index, n) for index in (0, 1) for n in range(5)] + ['ha-after-%d' % n for n in range(3)]
        + ['ha-same-%d' % n for n in range(3)])
    checked = audit_verify.verify(pg_database, keyring=decision_keys.load(ansible_env['AIGOV_DECISION_KEY_FILE']))
    assert checked['ok'] and checked['sealed'] == 16, checked['problem']
    assert all(pg.PASSWORD not in open(str(tmp_path / name)).read() for name in os.listdir(str(tmp_path))
               if name.startswith('rulebook-'))
