"""Group commit of the audit log in PostgreSQL (audit_log_postgres_schema.py, version 2) on a real server
(tests/pg.py): an append returns only once its entry is on disk, concurrent writes share commits and get back
exactly what is in the chain, a refused write leaves nothing pending, and a database of schema version 1 is
migrated in place and its chain continued."""

import multiprocessing
import time

import psycopg
import pytest

from ansible_collections.aigov.core.plugins.module_utils.audit import (
    audit_chain, audit_log, audit_log_postgres, audit_log_postgres_schema, audit_verify)
from ansible_collections.aigov.core.plugins.module_utils.common import database

NOW = '2026-12-06T10:00:00.000000+00:00'


def _records(count, start=0, **details):
    return [dict(actor='ops', action='agent_secret.rotate', subject='agent-%d' % (start + n), owner='team',
                 outcome='success', reasons=['rotated'], details=dict(details, n=start + n), now=NOW)
            for n in range(count)]


def _query(dsn, sql):
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(sql).fetchall()


def _wal_syncs(dsn, at_least=0, wait=5.0):
    """pg_stat_wal.wal_sync (WAL flushes to disk so far), polled until it reaches at_least or wait seconds passed:
    a backend reports its counts when its session ends, a moment after the client closed it."""
    deadline = time.monotonic() + wait
    while True:
        found = _query(dsn, 'SELECT wal_sync FROM pg_stat_wal')[0][0]
        if found >= at_least or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_an_append_returns_once_its_entry_is_on_disk(pg_database):
    """Every append of a lone writer waits for a WAL flush. Version 1's barrier, an empty transaction, never did:
    PostgreSQL flushes only a commit that wrote to the WAL (30 appends cost one or two flushes)."""
    audit_log.append(pg_database, **_records(1)[0])  # the schema in place
    before = _wal_syncs(pg_database)
    writer = audit_log.Writer(pg_database)
    try:
        for record in _records(30, start=1):
            writer.append_many([record])
    finally:
        writer.close()
    after = _wal_syncs(pg_database, at_least=before + 30)
    assert after - before >= 30, 'only %d WAL flushes for 30 appends' % (after - before)


def _writer(dsn, worker, writes, results):
    writer = audit_log.Writer(dsn)
    returned = []
    try:
        for number in range(writes):
            for entry in writer.append_many(_records(1 + number % 3, worker=worker, write=number)):
                returned.append((entry['seq'], entry['prev_hash'], entry['hash']))
    finally:
        writer.close()
    results.put(returned)


def test_concurrent_writes_share_commits_and_get_back_what_is_chained(pg_database):
    audit_log.append(pg_database, **_records(1)[0])
    context = multiprocessing.get_context('fork')
    results = context.Queue()
    workers = [context.Process(target=_writer, args=(pg_database, worker, 40, results)) for worker in range(8)]
    for process in workers:
        process.start()
    returned = [item for _process in workers for item in results.get(timeout=120)]
    for process in workers:
        process.join(30)
    assert all(process.exitcode == 0 for process in workers)
    entries = [entry for _n, entry in audit_log.read_entries(pg_database)]
    checked = audit_verify.verify(pg_database)
    assert checked['ok'] and checked['entries'] == len(entries) == 1 + 8 * sum(1 + n % 3 for n in range(40))
    in_log = dict((entry['seq'], (entry['seq'], entry['prev_hash'], entry['hash'])) for entry in entries)
    assert sorted(returned) == sorted(in_log[seq] for seq, _p, _h in returned) and len(set(returned)) == len(returned)
    writes = {}
    for entry in entries[1:]:  # each write's entries together, in order
        writes.setdefault((entry['details']['worker'], entry['details']['write']), []).append(entry['seq'])
    assert all(seqs == list(range(seqs[0], seqs[0] + len(seqs))) for seqs in writes.values())
    assert _query(pg_database, 'SELECT count(*) FROM aigov_audit_pending')[0][0] == 0
    commits = _query(pg_database, 'SELECT count(DISTINCT xmin::text) FROM aigov_audit_log WHERE seq > 1')[0][0]
    assert commits < len(writes), 'no commit chained more than one write'


def test_a_refused_write_leaves_nothing_pending(pg_cluster, pg_database):
    audit_log.append_many(pg_database, _records(3))
    name = pg_database.rsplit('/', 1)[1]
    pg_cluster.psql(name, "ALTER TABLE aigov_audit_log DISABLE TRIGGER aigov_audit_append_only; "
                          "UPDATE aigov_audit_log SET line = replace(line, 'agent-2', 'agent-8') WHERE seq = 3")
    writer = audit_log.Writer(pg_database)
    try:
        with pytest.raises(audit_log.AuditLogError, match=r'\(seq 3\) does not match its hash'):
            writer.append_many(_records(1, start=10))
        assert _query(pg_database, 'SELECT count(*) FROM aigov_audit_pending')[0][0] == 0
        pg_cluster.psql(name, "UPDATE aigov_audit_log SET line = replace(line, 'agent-8', 'agent-2') WHERE seq = 3")
        writer.append_many(_records(1, start=20))  # the same connection goes on
    finally:
        writer.close()
    assert [entry['subject'] for _n, entry in audit_log.read_entries(pg_database)] == [
        'agent-0', 'agent-1', 'agent-2', 'agent-20']  # agent-10 was never chained
    assert audit_verify.verify(pg_database)['ok']


def _append_v1(conn, records):
    """An append as the first release made it: aigov_audit_append (schema version 1) under the head row's lock."""
    entries = audit_chain.prepare_many(records)
    parts = [list(part) for part in zip(*[audit_log_postgres._parts(entry) for entry in entries])]
    conn.execute('SELECT * FROM aigov_audit_append(%s, %s, %s, %s, %s)', parts + [[e['action'] for e in entries]])


def test_a_database_of_schema_version_1_is_migrated_and_its_chain_continued(pg_database, tmp_path):
    with psycopg.connect(pg_database, autocommit=True) as conn:
        database.ensure_schema(conn, 'audit_log', 1, audit_log_postgres_schema.SCHEMA)
        _append_v1(conn, _records(3))
        assert conn.execute("SELECT version FROM aigov_schema WHERE component = 'audit_log'").fetchone()[0] == 1
    audit_log_postgres._ready.discard(pg_database)  # as a process started after the upgrade
    audit_log.append_many(pg_database, _records(2, start=3))
    with psycopg.connect(pg_database, autocommit=True) as conn:
        assert conn.execute("SELECT version FROM aigov_schema WHERE component = 'audit_log'").fetchone()[0] == 2
        _append_v1(conn, _records(1, start=5))  # a writer of the old release still running takes turns
    audit_log.append(pg_database, **_records(1, start=6)[0])
    log = str(tmp_path / 'audit.jsonl')
    audit_log.append_many(log, _records(3))
    audit_log.append_many(log, _records(2, start=3))
    audit_log.append_many(log, _records(1, start=5))
    audit_log.append(log, **_records(1, start=6)[0])
    assert [raw for _n, raw, _e in audit_log.iter_lines(pg_database)] == [raw for _n, raw, _e in audit_log.iter_lines(log)]
    assert audit_verify.verify(pg_database)['entries'] == 7


def test_a_write_whose_chaining_fails_is_taken_back(pg_cluster, pg_database):
    """The server refuses the chaining step after the entries reached the pending table: the writer takes them
    back, says nothing was appended, and they are never chained by a later write."""
    audit_log.append(pg_database, **_records(1)[0])
    name = pg_database.rsplit('/', 1)[1]
    pg_cluster.psql(name, "CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                          "IF NEW.line LIKE '%agent-boom%' THEN RAISE EXCEPTION 'refused by the test'; END IF; "
                          "RETURN NEW; END $$; CREATE TRIGGER refuse_boom BEFORE INSERT ON aigov_audit_log "
                          "FOR EACH ROW EXECUTE FUNCTION refuse_boom()")
    writer = audit_log.Writer(pg_database)
    try:
        writer.append_many(_records(1, start=1))
        with pytest.raises(audit_log.AuditLogError, match='cannot append to audit log: nothing appended'):
            writer.append_many([dict(_records(1)[0], subject='agent-boom')])
        assert _query(pg_database, 'SELECT count(*) FROM aigov_audit_pending')[0][0] == 0
        writer.append_many(_records(1, start=2))  # a new connection, the same chain
    finally:
        writer.close()
    assert [entry['subject'] for _n, entry in audit_log.read_entries(pg_database)] == ['agent-0', 'agent-1', 'agent-2']
    assert audit_verify.verify(pg_database)['ok']
