"""The event source's feedback spool in PostgreSQL (alerts/spool_postgres.py, tests/pg.py): rows keyed by the
persistence id and port, what a start finds is what the previous run (in another working directory: a fresh
container) had not delivered, acks delete rows; and the real ansible-rulebook: a run that accepted an alert and
confirmed nothing, then a run in a fresh directory that delivers it, never deciding it again."""

import json
import os
import subprocess
import time
import urllib.request

import pytest
import yaml

from ansible_collections.aigov.core.plugins.module_utils.alerts import spool
from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log
from ansible_collections.aigov.core.plugins.module_utils.common import database
from tests import pg
from tests.conftest import ROOT
from tests.integration.conftest import BIN
from tests.integration.test_event_source_rulebook import wait_port
from tests.integration.test_inventory_plugin import seed_store
from tests.integration.test_spool_rulebook import TOKEN, storm_rulebook
from tests.ports import free_port


def _events(*names):
    return [{'alert': {'fingerprint': name}, 'decision': None, 'meta': {'path': '/'}} for name in names]


def _rows(dsn):
    conn = database.connect(dsn, 'test')
    try:
        return conn.execute('SELECT source, uuid FROM aigov_event_spool ORDER BY seq').fetchall()
    finally:
        conn.close()


def test_a_start_anywhere_finds_what_the_last_run_of_its_key_did_not_deliver(pg_database, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = spool.open_spool(pg_database, '16:5050')
    assert first.load() == []
    events = _events('a', 'b', 'c')
    first.name(events)
    first.write(events, [])
    first.write([], [events[1]['meta']['uuid'], 'not-ours'], sync=False)  # feedback for b (and a stranger's uuid)
    other = spool.open_spool(pg_database, '17:5050')  # another activation's spool
    theirs = _events('x')
    other.name(theirs)
    other.write(theirs, [])
    first.close()
    assert os.listdir(str(tmp_path)) == []  # no file spool in the working directory
    later = spool.open_spool(pg_database, '16:5050')  # the restarted activation, in a fresh container
    found = later.load()
    assert [(e['alert']['fingerprint'], e['meta']['redelivered']) for e in found] == [('a', True), ('c', True)]
    assert [e['meta']['uuid'] for e in found] == [events[0]['meta']['uuid'], events[2]['meta']['uuid']]
    assert [e['alert']['fingerprint'] for e in other.load()] == ['x'] and len(_rows(pg_database)) == 3
    later.write([], [e['meta']['uuid'] for e in found], sync=False)
    assert [source for source, _uuid in _rows(pg_database)] == ['17:5050']
    assert spool.open_spool(pg_database, '16:5050').load() == []
    other.close()
    later.close()
    assert isinstance(spool.open_spool(pg_database, None), spool.Spool)  # no persistence id: the file, as before
    assert isinstance(spool.open_spool(str(tmp_path / 'audit.jsonl'), '16:5050'), spool.Spool)


def test_the_database_away_is_a_spool_error_without_its_password():
    down = 'postgresql://%s:%s@127.0.0.1:%d/x' % (pg.USER, pg.PASSWORD, free_port())
    box, events = spool.open_spool(down, '16:5050'), _events('a')
    box.name(events)
    for call in (box.load, lambda: box.write(events, [])):
        with pytest.raises(spool.SpoolError) as caught:
            call()
        assert 'event spool' in str(caught.value) and pg.PASSWORD not in str(caught.value)


def _post(port, fingerprint):
    body = json.dumps({'version': '4', 'status': 'firing', 'alerts': [
        {'status': 'firing', 'fingerprint': fingerprint, 'startsAt': '2026-12-06T10:00:00Z',
         'labels': {'alertname': 'ModelServerDown', 'instance': '10.10.0.11:8000', 'confidence': '0.95'}}]}).encode()
    request = urllib.request.Request('http://127.0.0.1:%d/' % port, data=body, headers={
        'Content-Type': 'application/json', 'Authorization': 'Bearer ' + TOKEN})
    with urllib.request.urlopen(request, timeout=20) as response:
        return response.status


def test_a_restarted_activation_in_a_fresh_directory_delivers_what_the_dead_one_had_not(
        ansible_env, pg_cluster, pg_database, tmp_path):
    """Run 1 (--persistence-id, no engine database): the source accepts an alert, refuses the engine's feedback (it
    would mean nothing) and the run ends; run 2, in another directory with nothing of run 1's, with the engine's
    database in PostgreSQL: the alert comes back from aigov_event_spool and reaches a rule, decided once."""
    seed_store(pg_database)
    port = free_port()
    drools = pg_cluster.create_database('eda_spool').rsplit('/', 1)[1]
    env = dict(ansible_env, PYTHONUNBUFFERED='1', AIGOV_DATABASE=pg_database, **pg_cluster.env(),
               JAVA_HOME=os.environ.get('JAVA_HOME', '/usr/lib/jvm/java-17-openjdk-amd64'))
    logs = []

    def run(number, engine_database):
        directory = tmp_path / ('container-%d' % number)
        directory.mkdir()
        rulebook = storm_rulebook(directory / 'rulebook.yml')
        (directory / 'inventory.yml').write_text(yaml.safe_dump({'all': {'hosts': {'localhost': {
            'ansible_connection': 'local', 'ansible_python_interpreter': os.path.join(BIN, 'python')}}}}))
        variables = {'aigov_port': port, 'aigov_token': TOKEN, 'aigov_escalation_webhook': 'http://127.0.0.1:9/unused',
                     'aigov_store_path': pg_database, 'aigov_audit_log': pg_database,  # the rulebook names them
                     'aigov_registry': os.path.join(ROOT, 'tests', 'fixtures', 'inventory', 'registry.yml')}
        if engine_database:
            variables.update(drools_db_host='127.0.0.1', drools_db_port=pg_cluster.port, drools_db_name=drools,
                             drools_db_user=pg.USER, drools_db_password=pg.PASSWORD)
        (directory / 'vars.yml').write_text(yaml.safe_dump(variables))
        logs.append(directory / 'rulebook.log')
        return directory, subprocess.Popen(
            [os.path.join(BIN, 'ansible-rulebook'), '-r', rulebook, '-i', 'inventory.yml', '--vars', 'vars.yml',
             '--persistence-id', '16', '--id', '1', '--shutdown-delay', '2'], cwd=str(directory), env=env,
            stdout=open(str(logs[-1]), 'w'), stderr=subprocess.STDOUT, text=True)

    first, proc = run(1, engine_database=False)
    try:
        wait_port(port, proc, timeout=120)
        assert _post(port, 'spool-pg') == 202
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = logs[0].read_text()
    assert proc.returncode != 0 and 'runs without a persistence database' in output, output[-3000:]
    assert [source for source, _uuid in _rows(pg_database)] == ['16:%d' % port]  # waiting in the database
    assert not list(first.rglob('*.spool'))

    second, proc = run(2, engine_database=True)
    try:
        deadline = time.monotonic() + 120
        while 'REACHED spool-pg' not in logs[1].read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, logs[1].read_text()[-3000:]
            time.sleep(0.5)
        deadline = time.monotonic() + 30  # the engine's feedback, written ACK_DELAY seconds later, deletes the row
        while _rows(pg_database) and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # run 2's rules got it from the database (run 1's engine may have matched it too: without its database that
    # match would not survive a crash, which is why nothing was confirmed)
    assert 'REACHED spool-pg' in logs[1].read_text() and 're-emitting 1 accepted events' in logs[1].read_text()
    assert _rows(pg_database) == []
    decisions = [entry for _n, entry in audit_log.read_entries(pg_database) if entry['action'] == 'decision']
    assert [entry['details']['fingerprint'] for entry in decisions] == ['spool-pg']  # delivered again, decided once
    assert not list(second.rglob('*.spool'))
    assert all(pg.PASSWORD not in log.read_text() for log in logs)
