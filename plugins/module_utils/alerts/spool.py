# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The event source's durable spool: at-least-once delivery of accepted events to ansible-rulebook.

ansible-rulebook (1.3+) run with --persistence-id gives a source whose args hold `feedback: true` a feedback
queue (`eda_feedback_queue`), on which the engine puts each event back once the rules engine has it (posted to
its persistent session). The spool keeps every accepted event from before its 202 until that feedback:

- `<audit log>.spool`, JSON lines, append-only: `{"event": {...}}` for an accepted event (its meta.uuid, set
  here, names it; the engine keeps a uuid it finds) and `{"acked": [uuid, ...]}` for feedback received;
- events are written and fsynced in one group commit per batch, after their decisions are in the audit log
  and before they are queued (Intake.receive): the durability point of a decision does not move;
- feedback is written ACK_DELAY seconds after it came (the engine's own database may write its commit that much
  later), in batches, without waiting for the disk: an ack lost in a crash only re-emits an event (same meta.uuid);
- on start (load()) every event without an ack is re-emitted as it was: same decision, same payload_b64,
  same meta.uuid, with meta.redelivered true. It is never decided again: it does not pass the gate;
- bounded: once the file passes `compact_bytes` (or twice what the last compaction kept, so that a large
  backlog is not rewritten on every write) it is rewritten (temp file, fsync, rename) with only the events
  still waiting; in memory the spool holds the uuids of the waiting events only (the engine's queue
  holds one event, so they are the events of the requests in flight and of the last ACK_DELAY seconds).

With the audit log in PostgreSQL and the engine's persistence id known, the spool is rows in the database under
that id (spool_postgres.py, open_spool): a restarted activation in a fresh container re-emits what the dead one
had not delivered.

Without feedback (no persistence) there is no spool: an event answered 202 is in ansible-rulebook's memory
only (docs/remediation.md, "Delivery").
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import uuid

from ansible_collections.aigov.core.plugins.module_utils.alerts import spool_postgres
from ansible_collections.aigov.core.plugins.module_utils.common import database, paths

SUFFIX = '.spool'
COMPACT_BYTES = 8 * 1024 * 1024
# Feedback is believed this long after it came. ansible-rulebook sends it right after the rules engine took the event,
# but H2 writes its commits to disk up to a second later (its write delay): a SIGKILL in that second loses the match,
# and the spool must still hold the event. Measured by the kill test (tests/integration/test_spool_rulebook.py).
ACK_DELAY = 3.0
_ENCODER = json.JSONEncoder(separators=(',', ':'), ensure_ascii=False)


class SpoolError(Exception):
    """The spool cannot be read or written."""


class NotPersisted(Exception):
    """The engine gave feedback but keeps no database: its feedback does not mean the event is safe."""


NOT_PERSISTED = ('feedback: true, but ansible-rulebook runs without a persistence database (--persistence-id without '
                 'drools_db_file_path, or drools_db_host, drools_db_port and drools_db_name, in its variables): its '
                 'feedback would not mean the event survives a crash. Nothing was confirmed; the events stay in the '
                 'spool and are emitted again when ansible-rulebook starts with a database (docs/remediation.md, '
                 '"Delivery")')


def spool_path(audit_log_path):
    """The spool next to its audit log; for an audit log in PostgreSQL, a file in the data directory (paths.DATA_DIR)."""
    if database.is_database(audit_log_path):
        return paths.local_path(paths.DATA_DIR + '/audit' + SUFFIX)
    return audit_log_path + SUFFIX


def open_spool(audit_log_path, key=None):
    """The spool of a source: with its audit log in PostgreSQL and a key (its persistence id and port), rows in that
    database (spool_postgres.py), which a restart anywhere finds; else the file at spool_path()."""
    if key and database.is_database(audit_log_path):
        return spool_postgres.DatabaseSpool(audit_log_path, key, SpoolError, Spool.name)
    return Spool(spool_path(audit_log_path))


def _fsync_dir(path):
    fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def event_id(event):
    """The spool's name of an event (its meta.uuid), or None."""
    meta = event.get('meta') if isinstance(event, dict) else None
    value = meta.get('uuid') if isinstance(meta, dict) else None
    return value if isinstance(value, str) else None


class Spool(object):
    """The file and the uuids of the events still waiting for feedback. Thread-safe: file work runs off the loop."""

    def __init__(self, path, compact_bytes=COMPACT_BYTES):
        self.path, self.compact_bytes = path, compact_bytes
        self.waiting = {}  # uuid -> None, in spool order
        self.lock = threading.Lock()
        self.handle = None
        self.size = 0
        self.compactions = 0
        self.threshold = compact_bytes  # twice what the last compaction kept, at least compact_bytes: amortized

    def load(self):
        """The events that never got feedback, oldest first (each marked meta.redelivered); the file compacted."""
        events = {}
        try:
            with open(self.path, 'rb') as handle:
                for raw in handle:
                    try:
                        record = json.loads(raw)
                    except ValueError:
                        continue  # a line torn by a crash was never fsynced, so never answered 202
                    if not isinstance(record, dict):
                        continue
                    event = record.get('event')
                    if event_id(event):
                        events[event_id(event)] = event
                    for done in record.get('acked') or ():
                        events.pop(done, None)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise SpoolError('cannot read spool %s: %s' % (self.path, exc.strerror))
        with self.lock:
            self.waiting = dict.fromkeys(events)
            self._rewrite([self._line({'event': event}) for event in events.values()])
        for event in events.values():
            event['meta']['redelivered'] = True
        return list(events.values())

    @staticmethod
    def _line(record):
        return (_ENCODER.encode(record) + '\n').encode('utf-8')

    def _open(self):
        if self.handle is None:
            directory = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(directory, mode=0o750, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
            self.handle = os.fdopen(fd, 'ab', buffering=0)
            self.size = os.fstat(fd).st_size
        return self.handle

    def _rewrite(self, lines):
        """Replace the file by lines, an iterable (temp file, fsync, rename, fsync of the directory); its size."""
        temporary, size = self.path + '.tmp', 0
        try:
            if self.handle is not None:
                self.handle.close()
                self.handle = None
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o640)
            with os.fdopen(fd, 'wb') as handle:
                for line in lines:
                    handle.write(line)
                    size += len(line)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
            _fsync_dir(self.path)
        except OSError as exc:
            raise SpoolError('cannot rewrite spool %s: %s' % (self.path, exc.strerror))
        self._open()
        return size

    @staticmethod
    def name(events):
        """Give each event that has none a meta.uuid (before it is written)."""
        for event in events:
            meta = event.setdefault('meta', {})
            if not isinstance(meta.get('uuid'), str):
                meta['uuid'] = str(uuid.uuid4())

    def write(self, events, acked, sync=True):
        """Append events (then they wait) and acks (then those stop waiting); fsync when sync; compact when due."""
        lines = [self._line({'event': event}) for event in events]
        with self.lock:
            for event in events:
                self.waiting[event['meta']['uuid']] = None
            done = [name for name in acked if self.waiting.pop(name, False) is None]
            if done:
                lines.append(self._line({'acked': done}))
            if not lines:
                return
            try:
                handle = self._open()
                data = b''.join(lines)
                handle.write(data)
                self.size += len(data)
                if sync:
                    os.fsync(handle.fileno())
            except OSError as exc:
                raise SpoolError('cannot append to spool %s: %s' % (self.path, exc.strerror))
            if self.size > self.threshold:
                self._compact()

    def _compact(self):
        """Rewrite the file with the events still waiting (called under the lock), streaming: one line in memory."""
        def kept(handle):
            for raw in handle:
                try:
                    event = json.loads(raw).get('event')
                except (ValueError, AttributeError):
                    continue
                if event_id(event) in self.waiting:
                    yield raw if raw.endswith(b'\n') else raw + b'\n'
        with open(self.path, 'rb') as handle:
            self.size = self._rewrite(kept(handle))
        self.threshold = max(self.compact_bytes, 2 * self.size)
        self.compactions += 1

    def close(self):
        with self.lock:
            if self.handle is not None:
                self.handle.close()
                self.handle = None


class SpoolCommit(object):
    """The spool's group commit: record() returns once its events are on disk; ack() notes feedback (no wait)."""

    def __init__(self, spool, ack_delay=ACK_DELAY):
        self.spool, self.ack_delay = spool, ack_delay
        self.pending, self.acked = [], []  # acked: (monotonic time of the feedback, uuid)
        self.task = self.timer = None

    async def record(self, events):
        self.spool.name(events)
        done = asyncio.get_running_loop().create_future()
        self.pending.append((events, done))
        self._kick()
        await done

    def ack(self, event):
        name = event_id(event)
        if name is not None:
            self.acked.append((time.monotonic(), name))
            self._arm()

    def _arm(self):
        if self.acked and self.timer is None:
            wait = max(0.0, self.acked[0][0] + self.ack_delay - time.monotonic())
            self.timer = asyncio.get_running_loop().call_later(wait, self._fire)

    def _fire(self):
        self.timer = None
        self._kick()

    def _kick(self):
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._drain())

    def _due(self):
        """The uuids whose feedback is older than ack_delay, taken off the list."""
        now, count = time.monotonic(), 0
        while count < len(self.acked) and self.acked[count][0] <= now - self.ack_delay:
            count += 1
        due, self.acked = [name for _at, name in self.acked[:count]], self.acked[count:]
        self._arm()
        return due

    async def _drain(self):
        loop = asyncio.get_running_loop()
        while True:
            batch, self.pending = self.pending, []
            acked = self._due()
            if not batch and not acked:
                return
            try:
                await loop.run_in_executor(None, self.spool.write, [event for events, _done in batch for event in events],
                                           acked, bool(batch))
                error = None
            except SpoolError as exc:
                error = exc
            for _events, done in batch:
                if not done.done():
                    done.set_exception(error) if error else done.set_result(None)

    async def feedback(self, queue, persisted=None):
        """Take the engine's feedback off its queue until cancelled (the engine waits on a queue of one).

        persisted(): whether the engine keeps a database (None: cannot tell), asked at the first feedback, when the
        engine has set it up (ansible-rulebook enables persistence after it starts the sources). Without one the
        feedback means nothing durable: NotPersisted is raised and nothing is acked, so nothing is lost.
        """
        first = await queue.get()
        if persisted is not None and persisted() is False:
            raise NotPersisted(NOT_PERSISTED)
        self.ack(first)
        while True:
            self.ack(await queue.get())

    def close(self):
        """On an orderly stop (ansible-rulebook closes its database too): the feedback not yet written, then the file."""
        if self.timer is not None:
            self.timer.cancel()
        try:
            self.spool.write([], [name for _at, name in self.acked], sync=True)
        except SpoolError:
            pass  # the events are emitted again: at least once
        self.acked = []
        self.spool.close()
