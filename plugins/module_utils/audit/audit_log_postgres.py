# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit log in PostgreSQL: the same hash chain as the JSON-lines file, shared by every writer on every node.

audit_log.py hands a location that is a PostgreSQL URL (common/database.py) to this module, so callers do not
change. Each entry is one row holding its exact canonical line (what the file would hold), so readers get the
same bytes, the same entries and the same verification (audit_verify, governance_kpis) as from the file.

Order without gaps or forks, whoever writes: a write is one transaction that locks the one head row
(SELECT ... FOR UPDATE), checks the last entry against it, chains its entries after it, inserts them and moves
the head. Writers on other connections wait for the lock and chain after the committed head; a lost
connection rolls the whole transaction back (nothing half-written). seq is the primary key and prev_hash is
unique: even a writer that bypassed the head could not fork the chain. A trigger refuses UPDATE and DELETE on
entries (verify still names an edit made by someone who disabled it).
"""

from __future__ import annotations

import json
import threading

from ansible_collections.aigov.core.plugins.module_utils.common import database

COMPONENT, VERSION = 'audit_log', 1
WHAT = 'audit log'
_SCHEMA = {1: [
    'CREATE TABLE aigov_audit_head (id smallint PRIMARY KEY CHECK (id = 1), seq bigint NOT NULL, hash text NOT NULL)',
    "INSERT INTO aigov_audit_head (id, seq, hash) VALUES (1, 0, repeat('0', 64))",
    'CREATE TABLE aigov_audit_log (seq bigint PRIMARY KEY, prev_hash text NOT NULL UNIQUE, hash text NOT NULL UNIQUE, '
    'action text NOT NULL, line text NOT NULL)',
    "CREATE FUNCTION aigov_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "RAISE EXCEPTION 'aigov audit log entries are append-only'; END $$",
    'CREATE TRIGGER aigov_audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON aigov_audit_log '
    'FOR EACH STATEMENT EXECUTE FUNCTION aigov_audit_append_only()',
]}
_HEAD = 'SELECT seq, hash FROM aigov_audit_head WHERE id = 1'
_INSERT = 'INSERT INTO aigov_audit_log (seq, prev_hash, hash, action, line) VALUES (%s, %s, %s, %s, %s)'
_ready = set()  # locations whose schema this process has checked


def _log():
    from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log  # pylint: disable=import-outside-toplevel
    return audit_log


def _error(what, location, exc):
    return _log().AuditLogError(str(database.failure(what, location, exc)))


def _open(location):
    """A connection with the schema in place; AuditLogError when the database cannot be reached."""
    try:
        conn = database.connect(location, WHAT)
    except database.DatabaseError as exc:
        raise _log().AuditLogError(str(exc))
    try:
        if location not in _ready:
            database.ensure_schema(conn, COMPONENT, VERSION, _SCHEMA)
            _ready.add(location)
    except database.DatabaseError as exc:
        conn.close()
        raise _log().AuditLogError(str(exc))
    except Exception as exc:
        conn.close()
        if database.is_driver_error(exc):
            raise _error('cannot set up the audit log', location, exc)
        raise
    return conn


def _previous(conn, location, lock):
    """The head entry ({seq, hash}, None for an empty log), checked against the last row (a damaged tail is an error)."""
    row = conn.execute(_HEAD + (' FOR UPDATE' if lock else '')).fetchone()
    if row is None:
        raise _log().AuditLogError('audit log %s has no head row: run aigov.core.audit_verify' % database.display(location))
    seq, digest = row
    if seq == 0:
        return None
    # A statement of its own, after the lock is held: it sees the entry the writer before committed (read committed).
    found = conn.execute('SELECT line FROM aigov_audit_log WHERE seq = %s', (seq,)).fetchone()
    line = found[0] if found else None
    try:
        entry = json.loads(line) if line is not None else None
    except ValueError:
        entry = None
    if not isinstance(entry, dict) or entry.get('seq') != seq or _log().entry_hash(entry) != digest:
        raise _log().AuditLogError('the last entry of audit log %s (seq %d) does not match its hash; run '
                                   'aigov.core.audit_verify' % (database.display(location), seq))
    return entry


def _insert(conn, entries, data):
    lines = data.split(b'\n')
    rows = [(entry['seq'], entry['prev_hash'], entry['hash'], entry['action'], line.decode('utf-8'))
            for entry, line in zip(entries, lines)]
    with conn.cursor() as cursor:
        cursor.executemany(_INSERT, rows)
    last = entries[-1]
    conn.execute('UPDATE aigov_audit_head SET seq = %s, hash = %s WHERE id = 1', (last['seq'], last['hash']))


class Writer(object):
    """audit_log.Writer for a database: one connection kept open (opened again after it was lost), one write at a time."""

    def __init__(self, path):
        self.path = path
        self._conn = None
        self._turn = threading.Lock()

    def append_many(self, records):
        stamp = _log()._utc_now()
        entries = [_log()._prepare(batch_time=stamp, **record) for record in records]
        return self.write(entries) if entries else []

    def close(self):
        with self._turn:
            self._close()

    def _close(self):
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # pylint: disable=broad-except
                pass  # closing a connection the server already cut
        self._conn = None

    def write(self, entries):
        """Chain and insert prepared entries in one transaction under the head row's lock; return them."""
        with self._turn:
            if self._conn is None or self._conn.closed:
                self._conn = _open(self.path)
            try:
                with self._conn.transaction():
                    data = _log()._chain(entries, _previous(self._conn, self.path, lock=True))
                    _insert(self._conn, entries, data)
            except Exception as exc:
                if not database.is_driver_error(exc):
                    raise  # a refusal (AuditLogError) inside the transaction: rolled back, the connection stays good
                self._close()
                raise _error('cannot append to audit log: nothing appended', self.path, exc)
            return entries


def write(location, entries):
    writer = Writer(location)
    try:
        return writer.write(entries)
    finally:
        writer.close()


def check_appendable(location):
    conn = _open(location)
    try:
        with conn.transaction():
            _previous(conn, location, lock=False)
    except Exception as exc:
        if database.is_driver_error(exc):
            raise _error('cannot read audit log', location, exc)
        raise
    finally:
        conn.close()


def previous(location):
    """The head entry for predict(): None for an empty log."""
    conn = _open(location)
    try:
        with conn.transaction():
            return _previous(conn, location, lock=False)
    except Exception as exc:
        if database.is_driver_error(exc):
            raise _error('cannot read audit log', location, exc)
        raise
    finally:
        conn.close()


def _rows(location, order, size=2000):
    """Stream the lines in seq order (ASC or DESC) through a server-side cursor, a batch at a time."""
    conn = _open(location)
    try:
        with conn.transaction():
            with conn.cursor(name='aigov_audit_read') as cursor:
                cursor.itersize = size
                cursor.execute('SELECT line FROM aigov_audit_log ORDER BY seq ' + order)
                for (line,) in cursor:
                    yield line.encode('utf-8') + b'\n'
    except Exception as exc:
        if database.is_driver_error(exc):
            raise _error('cannot read audit log', location, exc)
        raise
    finally:
        conn.close()


def iter_lines(location):
    """(line number, raw line, entry or None): the n-th entry of the chain is line n, as in the file."""
    for number, raw in enumerate(_rows(location, 'ASC'), start=1):
        yield number, raw, _log()._parsed(raw)


def iter_newest_first(location, chunk=None):
    for raw in _rows(location, 'DESC', size=200):
        yield _log()._parsed(raw)


def import_lines(location, lines):
    """Copy a file log's lines (bytes, verified by the caller) into an empty database log, byte for byte, in one
    transaction: the chain continues where the file's ended (its head anchors the next entry)."""
    conn = _open(location)
    try:
        with conn.transaction():
            if _previous(conn, location, lock=True) is not None:
                raise _log().AuditLogError('audit log %s is not empty: a file log is copied only into an empty one'
                                           % database.display(location))
            entries, data = [], []
            for raw in lines:
                entries.append(json.loads(raw.decode('utf-8')))
                data.append(raw.rstrip(b'\n'))
            if entries:
                _insert(conn, entries, b'\n'.join(data))
            return len(entries)
    except Exception as exc:
        if database.is_driver_error(exc):
            raise _error('cannot copy into audit log: nothing copied', location, exc)
        raise
    finally:
        conn.close()


def head_seq(location):
    """The seq of the last entry (0 for an empty log)."""
    conn = _open(location)
    try:
        return conn.execute(_HEAD).fetchone()[0]
    except Exception as exc:
        if database.is_driver_error(exc):
            raise _error('cannot read audit log', location, exc)
        raise
    finally:
        conn.close()


def entries_after(location, seq, actions, limit=10000):
    """(the last seq read, [entries]) of the entries after seq whose action is one of actions, at most limit of them:
    a follower's poll (the event source's Outcomes) reads only what is new, by index."""
    conn = _open(location)
    try:
        head = conn.execute(_HEAD).fetchone()[0]
        rows = conn.execute('SELECT seq, line FROM aigov_audit_log WHERE seq > %s AND seq <= %s AND action = ANY(%s) '
                            'ORDER BY seq LIMIT %s', (seq, head, list(actions), limit)).fetchall()
    except Exception as exc:
        if database.is_driver_error(exc):
            raise _error('cannot read audit log', location, exc)
        raise
    finally:
        conn.close()
    return (rows[-1][0] if len(rows) == limit else head), [json.loads(line) for _seq, line in rows]
