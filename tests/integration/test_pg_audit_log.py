"""The audit log in a real PostgreSQL server (tests/pg.py): the same chain, bytes and verification as the file log,
concurrent writers in several processes, a server restarted mid-run, credentials never shown."""

import datetime
import json
import multiprocessing
import time

import pytest

from ansible_collections.aigov.core.plugins.module_utils.alerts import spool
from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, audit_verify, governance_kpis
from ansible_collections.aigov.core.plugins.module_utils.common import database, paths
from tests import pg

NOW = '2026-12-06T10:00:00.000000+00:00'
MOMENT = datetime.datetime.fromisoformat(NOW)


def _records(count, start=0):
    return [dict(actor='ops', action='agent_secret.rotate', subject='agent-%d' % (start + n), owner='team',
                 outcome='success', reasons=['rotated'], details={'n': start + n, 'text': 'é\u2028"\\'}, now=NOW)
            for n in range(count)]


def _psql(cluster, dsn, sql):
    return cluster.psql(dsn.rsplit('/', 1)[1], sql).strip()


def test_same_lines_verification_and_kpis_as_the_file(pg_database, tmp_path):
    log = str(tmp_path / 'audit.jsonl')
    for target in (log, pg_database):
        audit_log.append(target, **_records(1)[0])
        audit_log.append_many(target, _records(4, start=1))
        writer = audit_log.Writer(target)
        try:
            writer.append_many(_records(2, start=5))
        finally:
            writer.close()
    from_file = [(n, raw) for n, raw, _entry in audit_log.iter_lines(log)]
    from_db = [(n, raw) for n, raw, _entry in audit_log.iter_lines(pg_database)]
    assert from_db == from_file and len(from_db) == 7  # byte for byte: the same entries, the same chain
    assert list(audit_log.iter_newest_first(pg_database)) == list(audit_log.iter_newest_first(log))
    checked = audit_verify.verify(pg_database)
    assert checked['ok'] and checked['entries'] == 7 and checked['last_hash'] == audit_verify.verify(log)['last_hash']
    anchor = dict(seq=7, hash=checked['last_hash'])
    assert audit_verify.verify(pg_database, anchor)['state'] == 'intact'
    report_db = governance_kpis.compute(pg_database, anchor=anchor, now=MOMENT)
    report_file = governance_kpis.compute(log, anchor=anchor, now=MOMENT)
    report_db['log'].pop('path'), report_file['log'].pop('path')
    assert report_db == report_file
    predicted = audit_log.predict(pg_database, **_records(1, start=7)[0])
    assert predicted['seq'] == 8 and predicted['prev_hash'] == checked['last_hash']
    assert audit_verify.verify(pg_database)['entries'] == 7  # predict wrote nothing


def test_refused_entry_appends_nothing_and_keeps_the_writer(pg_database):
    writer = audit_log.Writer(pg_database)
    try:
        writer.append_many(_records(2))
        with pytest.raises(audit_log.AuditLogError, match='looks like a secret'):
            writer.append_many(_records(1) + [dict(_records(1)[0], details={'k': 'sk-aigovTEST-9f2c4e7a1b3d5f60'})])
        writer.append_many(_records(1, start=2))
    finally:
        writer.close()
    assert [entry['seq'] for _n, entry in audit_log.read_entries(pg_database)] == [1, 2, 3]


def test_entries_are_append_only_and_an_edit_is_named(pg_cluster, pg_database):
    audit_log.append_many(pg_database, _records(3))
    with pytest.raises(RuntimeError, match='append-only'):
        _psql(pg_cluster, pg_database, "UPDATE aigov_audit_log SET line = line WHERE seq = 2")
    _psql(pg_cluster, pg_database, "ALTER TABLE aigov_audit_log DISABLE TRIGGER aigov_audit_append_only; "
                                   "UPDATE aigov_audit_log SET line = replace(line, 'agent-1', 'agent-9') WHERE seq = 2")
    problem = audit_verify.verify(pg_database)['problem']
    assert problem['kind'] == 'edited' and problem['seq'] == 2
    with pytest.raises(audit_log.AuditLogError, match='seq 3'):  # the tail is checked before appending
        _psql(pg_cluster, pg_database, "UPDATE aigov_audit_log SET line = replace(line, 'agent-2', 'agent-8') WHERE seq = 3")
        audit_log.append(pg_database, **_records(1)[0])


def _appender(dsn, worker, batches, batch, results):
    done = 0
    writer = audit_log.Writer(dsn)
    try:
        for number in range(batches):
            records = [dict(record, details={'worker': worker, 'batch': number, 'n': n})
                       for n, record in enumerate(_records(batch))]
            if number % 2:
                audit_log.append_many(dsn, records)  # a connection per call, as a playbook task
            else:
                writer.append_many(records)  # one connection kept open, as the event source
            done += len(records)
    finally:
        writer.close()
    results.put((worker, done))


def test_concurrent_writers_in_processes_keep_one_chain(pg_database):
    context = multiprocessing.get_context('spawn')
    results = context.Queue()
    workers = [context.Process(target=_appender, args=(pg_database, worker, 20, 5, results)) for worker in range(6)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(120)
    assert all(process.exitcode == 0 for process in workers)
    assert sum(results.get(timeout=5)[1] for _worker in workers) == 600
    checked = audit_verify.verify(pg_database)
    assert checked['ok'] and checked['entries'] == 600 and checked['last_seq'] == 600
    batches = {}
    for _n, entry in audit_log.read_entries(pg_database):
        batches.setdefault((entry['details']['worker'], entry['details']['batch']), []).append(entry['seq'])
    assert len(batches) == 120 and all(seqs == list(range(seqs[0], seqs[0] + 5)) for seqs in batches.values())


def _restart_writer(dsn, stop, results):
    ok, failed, messages = [], 0, []
    writer = audit_log.Writer(dsn)
    number = 0
    while not stop.is_set() and number < 5000:
        records = [dict(record, details={'batch': number, 'n': n}) for n, record in enumerate(_records(4))]
        try:
            writer.append_many(records)
            ok.append(number)
        except audit_log.AuditLogError as exc:
            failed += 1
            messages.append(str(exc))
        number += 1
    writer.close()
    results.put((ok, failed, messages[:3]))


def test_database_restarted_mid_run(pg_cluster, pg_database):
    context = multiprocessing.get_context('spawn')
    results, stop = context.Queue(), context.Event()
    workers = [context.Process(target=_restart_writer, args=(pg_database, stop, results)) for _n in range(3)]
    for process in workers:
        process.start()
    deadline = time.monotonic() + 60
    while len(list(audit_log.iter_lines(pg_database))) < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    pg_cluster.restart(pause=1.0)
    time.sleep(1.0)
    stop.set()
    found = [results.get(timeout=60) for _process in workers]
    for process in workers:
        process.join(30)
    assert sum(failed for _ok, failed, _messages in found) > 0, 'the restart made no write fail'
    messages = [message for _ok, _failed, batch in found for message in batch]
    assert all(message.startswith('cannot ') and 'audit log' in message and pg.PASSWORD not in message
               for message in messages), messages
    checked = audit_verify.verify(pg_database)
    assert checked['ok'], checked['problem']
    entries = [entry for _n, entry in audit_log.read_entries(pg_database)]
    assert len(entries) % 4 == 0  # whole batches only: nothing half-written
    written = sum(len(ok) for ok, _failed, _messages in found)
    assert written * 4 <= len(entries) <= written * 4 + 4 * len(workers)  # at most a commit whose reply was lost
    assert sum(len(ok) for ok, _f, _m in found) > 40 // 4  # writes went on after the restart


def test_password_never_in_errors_or_results(pg_cluster, pg_database, monkeypatch):
    monkeypatch.delenv('PGPASSWORD')
    with_password = pg_database.replace('%s@' % pg.USER, '%s:%s@' % (pg.USER, pg.PASSWORD))
    audit_log.append(with_password, **_records(1)[0])
    checked = audit_verify.verify(with_password)
    assert checked['ok'] and pg.PASSWORD not in json.dumps(checked) and database.MASK in checked['path']
    wrong = pg_database.replace('%s@' % pg.USER, '%s:%s@' % (pg.USER, pg.PASSWORD + 'x'))
    with pytest.raises(audit_log.AuditLogError) as caught:
        audit_log.append(wrong, **_records(1)[0])
    assert 'cannot connect to the audit log' in str(caught.value) and pg.PASSWORD not in str(caught.value)
    down = 'postgresql://%s:%s@127.0.0.1:%d/x' % (pg.USER, pg.PASSWORD, pg.free_port())
    with pytest.raises(audit_log.AuditLogError) as caught:
        list(audit_log.iter_lines(down))
    assert pg.PASSWORD not in str(caught.value) and 'Connection refused' in str(caught.value)


def test_one_setting_chooses_the_database(pg_database, monkeypatch, tmp_path):
    monkeypatch.setenv(database.ENV, pg_database)
    monkeypatch.delenv(paths.AUDIT_LOG.env, raising=False)
    assert paths.resolve(paths.AUDIT_LOG) == pg_database
    assert paths.resolve(paths.AUDIT_LOG, str(tmp_path / 'a.jsonl')) == str(tmp_path / 'a.jsonl')  # the option wins
    assert paths.resolve(paths.APPROVALS_QUEUE, base=str(tmp_path)) == pg_database  # the queue too (approvals_postgres.py)
    monkeypatch.chdir(tmp_path)  # the event source's spool: a file in the data directory, never a path made of the URL
    assert spool.spool_path(pg_database) == str(tmp_path / 'aigov-data' / 'audit.spool')
    monkeypatch.setenv(database.ENV, 'postgresql://')  # everything from the libpq environment
    host, port, name = pg_database.split('@', 1)[1].replace(':', '/').split('/')
    for key, value in dict(PGHOST=host, PGPORT=port, PGDATABASE=name, PGUSER=pg.USER).items():
        monkeypatch.setenv(key, value)
    audit_log.append(paths.resolve(paths.AUDIT_LOG), **_records(1)[0])
    assert audit_verify.verify(pg_database)['entries'] == 1
