# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit log in PostgreSQL: the same hash chain as the JSON-lines file, shared by every writer on every node.

audit_log.py hands a location that is a PostgreSQL URL (common/database.py) to this module, so callers do not
change. Each entry is one row holding its exact canonical line (what the file would hold), so readers get the
same bytes, the same entries and the same verification (audit_verify, governance_kpis) as from the file.

Order without gaps or forks, whoever writes: a write puts its entries in a pending table (in parallel with other
writers), then one writer at a time, under the chain lock, chains every pending write after the head, inserts
them and moves the head, in one statement and one commit (group commit on the server:
audit_log_postgres_schema.py). A lost connection leaves a write whole or out; seq is the primary key and
prev_hash is unique: even a writer that bypassed the head could not fork the chain. A trigger refuses UPDATE and
DELETE on entries (verify still names an edit made by someone who disabled it).
"""

from __future__ import annotations

import contextlib
import json
import threading

from ansible_collections.aigov.core.plugins.module_utils.audit import audit_chain
from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log_postgres_schema as schema
from ansible_collections.aigov.core.plugins.module_utils.audit.audit_chain import AuditLogError
from ansible_collections.aigov.core.plugins.module_utils.common import database

_NOTHING = 'nothing appended'
_UNCONFIRMED = 'the connection was lost; not appended, or appended unconfirmed (either way the chain stays whole)'
_UNKNOWN = 'not confirmed; another writer may have appended it (either way the chain stays whole)'
_PREV_MARK, _SEQ_MARK = b',"prev_hash":"@P@"', b',"seq":"@N@"'
WHAT = 'audit log'
_HEAD = 'SELECT seq, hash FROM aigov_audit_head WHERE id = 1'
_INSERT = 'INSERT INTO aigov_audit_log (seq, prev_hash, hash, action, line) VALUES (%s, %s, %s, %s, %s)'
_ready = set()  # locations whose schema this process has checked


def _error(what, location, exc):
    return AuditLogError(str(database.failure(what, location, exc)))


def _prepared(conn, location, create=True):
    """conn with the schema in place (checked once per process). create=False (a reader): None when the database has
    no audit log yet, which reads as an empty log, as a file that does not exist yet; nothing is created by reading."""
    if location in _ready:
        return conn
    if not create:
        missing = conn.execute("SELECT to_regclass('aigov_audit_head') IS NULL").fetchone()[0]
        if not conn.autocommit:
            conn.rollback()  # ensure_schema's transaction must be a transaction, not a savepoint
        if missing:
            return None
    try:
        database.ensure_schema(conn, schema.COMPONENT, schema.VERSION, schema.SCHEMA)
    except database.DatabaseError as exc:
        raise AuditLogError(str(exc))
    except Exception as exc:
        if database.is_driver_error(exc):
            raise _error('cannot set up the audit log', location, exc)
        raise
    _ready.add(location)
    return conn


def _open(location):
    """The writer's connection, kept open (autocommit: its one statement commits itself), the schema in place;
    AuditLogError when the database cannot be reached or set up."""
    try:
        conn = database.connect(location, WHAT, autocommit=True)
    except database.DatabaseError as exc:
        raise AuditLogError(str(exc))
    try:
        return _prepared(conn, location)
    except BaseException:
        conn.close()
        raise


def _previous(conn, location, lock):
    """The head entry ({seq, hash}, None for an empty log), checked against the last row (a damaged tail is an error)."""
    if lock:
        row = conn.execute('SELECT seq, hash, line FROM aigov_audit_lock_head()').fetchone()
    else:
        row = conn.execute('SELECT h.seq, h.hash, l.line FROM aigov_audit_head h LEFT JOIN aigov_audit_log l '
                           'ON l.seq = h.seq WHERE h.id = 1').fetchone()
    return _checked(row, location)


def _checked(row, location):
    if row is None or row[0] is None:
        raise AuditLogError('audit log %s has no head row: run aigov.core.audit_verify' % database.display(location))
    seq, digest, line = row
    if seq == 0:
        return None
    try:
        entry = json.loads(line) if line is not None else None
    except ValueError:
        entry = None
    if not isinstance(entry, dict) or entry.get('seq') != seq or audit_chain.entry_hash(entry) != digest:
        raise AuditLogError('the last entry of audit log %s (seq %d) does not match its hash; run '
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


def _parts(entry):
    """(a1, a2, b, c) of a prepared entry (audit_log_postgres_schema.py); ValueError when it is not JSON data."""
    text = audit_chain.canonical(dict(entry, prev_hash='@P@', seq='@N@'))
    at = text.index(_PREV_MARK)  # unique: inside a JSON string a quote is always escaped
    head, after = text[:at] + b',"prev_hash":"', b'"' + text[at + len(_PREV_MARK):]
    cut = head.rindex(b',"outcome":')  # the member itself: only owner (a string or null) follows it in head
    at = after.index(_SEQ_MARK)
    return (head[:cut].decode('utf-8'), head[cut:].decode('utf-8'), after[:at].decode('utf-8') + ',"seq":',
            after[at + len(_SEQ_MARK):].decode('utf-8'))


class Writer(object):
    """audit_log.Writer for a database: one connection kept open (opened again after it was lost), one write at a time."""

    def __init__(self, path):
        self.path = path
        self._conn = None
        self._ticket = None  # the ticket of this connection's last write (audit_log_postgres_schema.py)
        self._turn = threading.Lock()

    def append_many(self, records):
        entries = audit_chain.prepare_many(records)
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
        self._conn, self._ticket = None, None

    def write(self, entries):
        """Chain and insert prepared entries; return them once they are chained and on disk (group commit).

        One round trip, aigov_audit_write (audit_log_postgres_schema.py): the entries go into the pending table,
        then every pending write is chained under the chain lock and committed with the server's durability
        setting, or this write is found already chained by a writer whose commit was on disk before it was
        visible. A crash in between loses only pending writes whose writers never got a success, or chains one
        later (appended unconfirmed, as a lost reply): never a gap, never a fork.
        """
        with self._turn:
            if self._conn is None or self._conn.closed:
                self._conn = _open(self.path)
            try:
                parts = [list(part) for part in zip(*[_parts(entry) for entry in entries])]
            except (TypeError, ValueError) as exc:
                raise AuditLogError('audit entry details must be plain JSON data: %s' % exc)
            try:
                row = self._conn.execute(schema.WRITE, parts + [[entry['action'] for entry in entries]]).fetchone()
            except Exception as exc:
                if not database.is_driver_error(exc):
                    self._close()
                    raise
                raise self._failed(exc)
            self._ticket, first, previous, hashes, damaged = row
            if damaged is not None:  # this write withdrew itself: nothing appended
                raise AuditLogError('the last entry of audit log %s (seq %d) does not match its hash; run '
                                    'aigov.core.audit_verify' % (database.display(self.path), damaged))
            for number, (entry, digest) in enumerate(zip(entries, hashes)):
                entry['seq'], entry['prev_hash'], entry['hash'] = first + number, previous, digest
                previous = digest
            return entries

    def _failed(self, exc):
        """The AuditLogError for a driver error during write(). A write that reached the pending table but was not
        chained is taken back when the connection still works, so a refusal appends nothing."""
        lost = isinstance(exc, database.driver().OperationalError)  # the server went away mid-write
        withdrawn = False
        if not lost:
            try:
                ticket = self._conn.execute(schema.LAST_TICKET).fetchone()[0]
                withdrawn = ticket == self._ticket or self._conn.execute(schema.WITHDRAW, (ticket,)).fetchone()[0]
            except Exception:  # pylint: disable=broad-except
                withdrawn = not self._ticket  # no ticket in this session yet: the first step failed, nothing pending
        self._close()
        return _error('cannot append to audit log: %s' % (_UNCONFIRMED if lost else _NOTHING if withdrawn else _UNKNOWN),
                      self.path, exc)


def write(location, entries):
    writer = Writer(location)
    try:
        return writer.write(entries)
    finally:
        writer.close()


@contextlib.contextmanager
def _session(location, what='cannot read audit log', create=False):
    """One call's connection (None for a reader when there is no audit log yet), closed after it; a database that is
    away or refuses becomes an AuditLogError saying what could not be done (database.session)."""
    with database.session(location, WHAT, what, error=AuditLogError) as conn:
        yield _prepared(conn, location, create)


def check_appendable(location):
    with _session(location) as conn:
        if conn is not None:  # else the first append creates the log
            with conn.transaction():
                _previous(conn, location, lock=False)


def previous(location):
    """The head entry for predict(): None for an empty log."""
    with _session(location) as conn:
        if conn is None:
            return None
        with conn.transaction():
            return _previous(conn, location, lock=False)


def _rows(location, order, size=2000):
    """Stream the lines in seq order (ASC or DESC) through a server-side cursor, a batch at a time."""
    with _session(location) as conn:
        if conn is None:
            return
        with conn.transaction():
            with conn.cursor(name='aigov_audit_read') as cursor:
                cursor.itersize = size
                cursor.execute('SELECT line FROM aigov_audit_log ORDER BY seq ' + order)
                for (line,) in cursor:
                    yield line.encode('utf-8') + b'\n'


def iter_lines(location):
    """(line number, raw line, entry or None): the n-th entry of the chain is line n, as in the file."""
    for number, raw in enumerate(_rows(location, 'ASC'), start=1):
        yield number, raw, audit_chain.parsed(raw)


def iter_newest_first(location, chunk=None):
    for raw in _rows(location, 'DESC', size=200):
        yield audit_chain.parsed(raw)


def import_lines(location, lines):
    """Copy a file log's lines (bytes, verified by the caller) into an empty database log, byte for byte, in one
    transaction: the chain continues where the file's ended (its head anchors the next entry)."""
    with _session(location, 'cannot copy into audit log: nothing copied', create=True) as conn:
        with conn.transaction():
            if _previous(conn, location, lock=True) is not None:
                raise AuditLogError('audit log %s is not empty: a file log is copied only into an empty one'
                                    % database.display(location))
            entries, data = [], []
            for raw in lines:
                entries.append(json.loads(raw.decode('utf-8')))
                data.append(raw.rstrip(b'\n'))
            if entries:
                _insert(conn, entries, b'\n'.join(data))
            return len(entries)


def head_seq(location):
    """The seq of the last entry (0 for an empty log)."""
    with _session(location) as conn:
        return 0 if conn is None else conn.execute(_HEAD).fetchone()[0]


def entries_after(location, seq, actions, limit=10000):
    """(the last seq read, [entries]) of the entries after seq whose action is one of actions, at most limit of them:
    a follower's poll (the event source's Outcomes) reads only what is new, by index."""
    with _session(location) as conn:
        if conn is None:
            return seq, []
        head = conn.execute(_HEAD).fetchone()[0]
        rows = conn.execute('SELECT seq, line FROM aigov_audit_log WHERE seq > %s AND seq <= %s AND action = ANY(%s) '
                            'ORDER BY seq LIMIT %s', (seq, head, list(actions), limit)).fetchall()
    return (rows[-1][0] if len(rows) == limit else head), [json.loads(line) for _seq, line in rows]
