# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit log: an append-only, hash-chained JSON-lines file (schemas/audit-entry.v1.json).

Every decision and every action appends one entry. An entry's `hash` is the
sha256 of its canonical JSON without `hash`; `prev_hash` is the hash of the
entry before it (64 zeros for the first). Editing, deleting, inserting or
reordering lines breaks the chain, and verify() names the first break.
The hashes are not keyed: someone who rewrites the whole tail can forge a
valid chain, so keep an anchor (seq and hash of a recent entry) elsewhere
and pass it to verify().

The chain's rules (entries, hashes, lines, refusals) are audit_chain.py's, shared with the
PostgreSQL backend (audit_log_postgres.py), which every function here hands a database URL to.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import threading

# The chain's public names: callers use them as audit_log's.
from ansible_collections.aigov.core.plugins.module_utils.audit.audit_chain import (  # noqa: F401 pylint: disable=unused-import
    FIELDS, GENESIS_HASH, OUTCOMES, SCHEMA_VERSION, AuditLogError, canonical, entry_hash, recordable)
from ansible_collections.aigov.core.plugins.module_utils.audit.audit_chain import (
    chain as _chain, parsed as _parsed, prepare as _prepare, prepare_many, utc_now as _utc_now)
from ansible_collections.aigov.core.plugins.module_utils.common import database, paths
from ansible_collections.aigov.core.plugins.module_utils.host import safe_files

DEFAULT_PATH = paths.AUDIT_LOG.default  # where the log is: paths.resolve(paths.AUDIT_LOG, ...)
ENV_PATH = paths.AUDIT_LOG.env
_TAIL_CHUNK = 65536


def _postgres():
    """The PostgreSQL backend, imported for a database URL only: ansible-core compiles a collection's sources on every
    controller run (no bytecode cache), and the backend is a tenth of what a file log's controller actions import."""
    from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log_postgres  # pylint: disable=import-outside-toplevel
    return audit_log_postgres


def _tail_line(handle):
    """The last non-empty line of an open binary file, or None when it is empty."""
    end = handle.seek(0, os.SEEK_END)
    data = b''
    position = end
    while position > 0:
        step = min(_TAIL_CHUNK, position)
        position -= step
        handle.seek(position)
        data = handle.read(step) + data
        stripped = data.rstrip(b'\n')
        if b'\n' in stripped:
            return stripped.rsplit(b'\n', 1)[1]
    stripped = data.rstrip(b'\n')
    return stripped or None


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _open_log(path):
    """Open (creating it and its directory) the log for locked appends; return the fd."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, mode=0o750, exist_ok=True)
        created = not os.path.exists(path)
        fd = safe_files.open_append(path, 0o640)
    except OSError as exc:
        raise AuditLogError('cannot open audit log %s for appending: %s' % (path, exc.strerror))
    if created:
        _fsync_dir(directory)
    return fd


def last_entry(handle, path):
    """The last entry of an open log (None when empty); a damaged tail is an error, never silently extended."""
    line = _tail_line(handle)
    if line is None:
        return None
    try:
        entry = json.loads(line.decode('utf-8'))
        if not isinstance(entry, dict) or not isinstance(entry.get('seq'), int) or not isinstance(entry.get('hash'), str):
            raise ValueError('not an audit entry')
    except ValueError:
        raise AuditLogError('audit log %s ends with a damaged line; run aigov.core.audit_verify before appending' % path)
    if entry_hash(entry) != entry['hash']:
        raise AuditLogError('the last entry of audit log %s (seq %d) does not match its hash; run aigov.core.audit_verify'
                            % (path, entry['seq']))
    return entry


def check_appendable(path):
    """Raise AuditLogError unless an append to path would succeed now (writable, intact tail).

    Callers that change something outside call this before they act, so a
    change is never made that the log then cannot record.
    """
    if database.is_database(path):
        return _postgres().check_appendable(path)
    fd = _open_log(path)
    try:
        with os.fdopen(os.dup(fd), 'rb') as handle:
            last_entry(handle, path)
    finally:
        os.close(fd)


def _file_state(info):
    """What changes whenever anyone writes to the file (ctime cannot be set back by a user)."""
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


class Writer(object):
    """Appends to one log again and again (a long-running process such as the event source).

    The file stays open between appends (reopened when it was moved or removed), and the entry
    this writer appended last stands for the tail as long as the file is exactly as the writer
    left it (same inode, size, mtime and ctime, checked under the lock): the tail is read and
    checked again only after someone else wrote. Thread-safe: appends and close() take turns.
    """

    def __new__(cls, path):
        if cls is Writer and database.is_database(path):
            return _postgres().Writer(path)  # the same interface, one connection kept open
        return object.__new__(cls)

    def __init__(self, path):
        self.path = path
        self._fd = None
        self._last = None  # (file state after this writer's append, the entry it appended last)
        self._turn = threading.Lock()

    def append_many(self, records):
        """append_many() of this log through the open file."""
        stamp = _utc_now()
        entries = [_prepare(batch_time=stamp, **record) for record in records]
        return self.write(entries) if entries else []

    def close(self):
        """Close the file (after an append in progress in another thread); the next append opens it again."""
        with self._turn:
            self._close()

    def _close(self):
        if self._fd is not None:
            os.close(self._fd)
        self._fd, self._last = None, None

    def _open(self):
        if self._fd is not None:
            try:
                same = _file_state(os.stat(self.path))[:2] == _file_state(os.fstat(self._fd))[:2]
            except OSError:
                same = False
            if not same:  # rotated or removed: append to what the path names now
                self._close()
        if self._fd is None:
            self._fd = _open_log(self.path)
        return self._fd

    def write(self, entries):
        """Chain and append prepared entries (_prepare) under one exclusive lock and one fsync; return them."""
        with self._turn:
            return self._write(entries)

    def _write(self, entries):
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                if self._last is not None and self._last[0] == _file_state(os.fstat(fd)):
                    previous = self._last[1]
                else:
                    with os.fdopen(os.dup(fd), 'rb') as handle:
                        previous = last_entry(handle, self.path)
                self._last = None
                data = _chain(entries, previous)
                written = os.write(fd, data)
                if written != len(data):
                    raise AuditLogError('short write to audit log %s (%d of %d bytes)' % (self.path, written, len(data)))
                os.fsync(fd)
                self._last = (_file_state(os.fstat(fd)), entries[-1])
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        except OSError as exc:
            self._close()
            if exc.errno == errno.ENOSPC:
                raise AuditLogError('audit log %s: no space left on device; nothing appended' % self.path)
            raise AuditLogError('cannot append to audit log %s: %s' % (self.path, exc.strerror))
        return entries


def _write_chained(path, entries):
    """Chain and append entries under one exclusive lock and one fsync; return them."""
    if database.is_database(path):
        return _postgres().write(path, entries)
    writer = Writer(path)
    try:
        return writer.write(entries)
    finally:
        writer.close()


def append(path, actor, action, subject, owner, outcome, reasons=(), details=None, now=None):
    """Append one entry and return it; it is on disk (fsync) when this returns.

    An exclusive flock around read-last-entry + write + fsync serialises
    concurrent writers, processes or threads, on this machine.
    """
    entry = _prepare(actor, action, subject, owner, outcome, reasons, details, now)
    return _write_chained(path, [entry])[0]


def predict(path, actor, action, subject, owner, outcome, reasons=(), details=None, now=None):
    """The entry append() would write now (seq, prev_hash, hash), without writing or creating anything (check mode).

    The same refusals as append(): a secret-shaped value, details that are not JSON data, a damaged tail,
    a log that cannot be read or written.
    """
    entry = _prepare(actor, action, subject, owner, outcome, reasons, details, now)
    if database.is_database(path):
        _chain([entry], _postgres().previous(path))
        return entry
    try:
        handle = safe_files.open_regular(path, follow=False)
    except FileNotFoundError:
        previous = None
    except OSError as exc:
        raise AuditLogError('cannot read audit log %s: %s' % (path, exc.strerror))
    else:
        with handle:
            previous = last_entry(handle, path)
        if not os.access(path, os.W_OK):
            raise AuditLogError('cannot append to audit log %s: permission denied' % path)
    _chain([entry], previous)
    return entry


def append_many(path, records):
    """Append several entries (each a dict of append()'s keyword arguments but path) in one write and one fsync.

    Every record is checked before anything is written: one refused record appends none.
    """
    entries = prepare_many(records)
    return _write_chained(path, entries) if entries else []


def iter_lines(path):
    """Stream the log: (line_number, raw line bytes, entry or None when unparseable), one line in memory at a time."""
    if database.is_database(path):
        yield from _postgres().iter_lines(path)
        return
    try:
        handle = safe_files.open_regular(path, follow=False)
    except OSError as exc:
        raise AuditLogError('cannot read audit log %s: %s' % (path, exc.strerror))
    with handle:
        try:
            for number, raw in enumerate(handle, start=1):
                yield number, raw, _parsed(raw)
        except OSError as exc:
            raise AuditLogError('cannot read audit log %s: %s' % (path, exc.strerror))


def iter_entries(path):
    """Stream the log: (line_number, entry or None when unparseable)."""
    for number, _raw, entry in iter_lines(path):
        yield number, entry


def line_matches_hash(raw, entry):
    """True when raw, the line entry was parsed from, hashes to entry['hash']: a reader's fast path.

    The writer writes canonical(entry), so the line without its `"hash":"..."`
    member is exactly the bytes that were hashed; hashing them saves
    re-encoding the entry. sha256 being collision resistant, a match means
    the line is what the writer wrote. A line in any other form does not
    match: the caller then compares entry_hash(entry), the rule itself.
    """
    member = b',"hash":"' + str(entry.get('hash')).encode('utf-8') + b'"'
    return hashlib.sha256(raw.rstrip(b'\n').replace(member, b'', 1)).hexdigest() == entry.get('hash')


def read_entries(path):
    """Every line of the log as (line_number, entry or None when unparseable)."""
    return list(iter_entries(path))


def iter_newest_first(path, chunk=_TAIL_CHUNK):
    """The log's entries from the last line back to the first (None for an unparseable line).

    Reads chunk bytes at a time from the end, so a caller that stops early
    (the recent decision it looks for is found) reads only the tail.
    A log that does not exist yet has no entries.
    """
    if database.is_database(path):
        yield from _postgres().iter_newest_first(path)
        return
    try:
        handle = safe_files.open_regular(path, follow=False)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise AuditLogError('cannot read audit log %s: %s' % (path, exc.strerror))
    with handle:
        position = handle.seek(0, os.SEEK_END)
        rest = b''  # the start of a line whose beginning is in an earlier chunk
        while position > 0:
            step = min(chunk, position)
            position -= step
            handle.seek(position)
            lines = (handle.read(step) + rest).split(b'\n')
            rest = lines.pop(0)
            for raw in reversed(lines):
                if raw.strip():
                    yield _parsed(raw)
        if rest.strip():
            yield _parsed(rest)
