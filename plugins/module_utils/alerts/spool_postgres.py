# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The event source's feedback spool in PostgreSQL, keyed by the source's persistence id.

spool.py keeps accepted events in a file until ansible-rulebook's feedback says its rules engine has them. On AAP a
restarted activation runs in a fresh container: a file spool dies with the old one, and the events it had not
delivered with it. With the audit log in PostgreSQL and ansible-rulebook's --persistence-id known, the spool is rows
of aigov_event_spool under a key made of that id and the source's port (spool.open_spool), so the next start of
the activation, wherever it runs, re-emits them. Same interface and rules as spool.Spool (SpoolCommit drives both):

- write(): the batch's events inserted and the acked ones deleted, one transaction; a batch of events is committed
  durably before the 202 (as the file's fsync); acks alone are committed without waiting for the disk
  (synchronous_commit off for that transaction: a lost ack only re-emits an event, as in the file);
- load(): the rows of this key, oldest first, each marked meta.redelivered; the table holds only waiting events
  (an ack deletes its row), so it stays as small as the file after compaction.

Two instances run by hand with one persistence id share a key: the second to start re-emits what the first is still
waiting for (at least once; a decision still runs once, remediation.py refuses a second run).
"""

from __future__ import annotations

import json
import threading

from ansible_collections.aigov.core.plugins.module_utils.common import database

COMPONENT, VERSION = 'event_spool', 1
WHAT = 'event spool'
_SCHEMA = {1: ['CREATE TABLE aigov_event_spool (seq bigserial PRIMARY KEY, source text NOT NULL, uuid text NOT NULL, '
               'event text NOT NULL, UNIQUE (source, uuid))']}
_ENCODER = json.JSONEncoder(separators=(',', ':'), ensure_ascii=False)


class DatabaseSpool(object):
    """spool.Spool's interface over aigov_event_spool rows of one key. error: the class raised (spool.SpoolError);
    name: spool.Spool.name, which gives events their meta.uuid (one home)."""

    compactions = 0  # nothing to compact: acked rows are deleted

    def __init__(self, location, key, error, name):
        self.location, self.key, self.error, self.name = location, key, error, name
        self.path = '%s (spool %s)' % (database.display(location), key)  # what messages name
        self.waiting = {}
        self.lock = threading.Lock()
        self.connection = database.KeptConnection(location, WHAT, (COMPONENT, VERSION, _SCHEMA), error)

    def _call(self, what, work):
        return self.connection.call('%s %s' % (what, self.path), work)

    def load(self):
        """The events of this key that never got feedback, oldest first (each marked meta.redelivered)."""
        def work(conn):
            return [json.loads(row[0]) for row in conn.execute(
                'SELECT event FROM aigov_event_spool WHERE source = %s ORDER BY seq', (self.key,))]
        with self.lock:
            events = self._call('read', work)
            self.waiting = dict.fromkeys(event['meta']['uuid'] for event in events)
        for event in events:
            event['meta']['redelivered'] = True
        return events

    def write(self, events, acked, sync=True):
        """Insert events (then they wait) and delete acked ones, in one transaction; durable when sync."""
        rows = [(self.key, event['meta']['uuid'], _ENCODER.encode(event)) for event in events]

        def work(conn):
            if not sync:
                conn.execute('SET LOCAL synchronous_commit = off')
            if rows:
                with conn.cursor() as cursor:
                    cursor.executemany('INSERT INTO aigov_event_spool (source, uuid, event) VALUES (%s, %s, %s) '
                                       'ON CONFLICT (source, uuid) DO NOTHING', rows)
            if done:
                conn.execute('DELETE FROM aigov_event_spool WHERE source = %s AND uuid = ANY(%s)', (self.key, done))
        with self.lock:
            done = [name for name in acked if name in self.waiting]
            if not rows and not done:
                return
            self._call('write', work)
            for event in events:
                self.waiting[event['meta']['uuid']] = None
            for name in done:
                self.waiting.pop(name, None)

    def close(self):
        with self.lock:
            self.connection.close()
