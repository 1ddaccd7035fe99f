# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The approvals queue in PostgreSQL: the same records as the JSON-lines file, shared by every container.

On AAP the job that queues a review and the one that records its verdict run in different execution-environment
containers, so the queue cannot be a file there. approvals.py hands a queue whose location is a PostgreSQL URL
(common/database.py) here, with the same change(records) functions it applies to the file: the rules (a request is
queued once, decided once, not after it expired) stay in approvals.py, one home.

A record is a row (id, kind, the JSON the file's line holds). A change is one transaction under the advisory lock of
its request id, so two verdicts on one request at once are taken in turn and the second sees the first (and a unique
(id, kind) refuses a second one whatever happens). Readers (pending, check mode) take no lock and create nothing.
Errors are database.DatabaseError, with no password in them; approvals.py turns them into ApprovalError.
"""

from __future__ import annotations

import json

from ansible_collections.aigov.core.plugins.module_utils.common import database

COMPONENT, VERSION = 'approvals', 1
WHAT = 'approvals queue'
_SCHEMA = {1: ['CREATE TABLE aigov_approvals (seq bigserial PRIMARY KEY, id text NOT NULL, kind text NOT NULL, '
               'record text NOT NULL, UNIQUE (id, kind))']}
_ready = set()


def _records(conn, rid):
    if rid is None:
        rows = conn.execute('SELECT record FROM aigov_approvals ORDER BY seq').fetchall()
    else:
        rows = conn.execute('SELECT record FROM aigov_approvals WHERE id = %s ORDER BY seq', (rid,)).fetchall()
    return [json.loads(row[0]) for row in rows]


def locked(location, change, rid):
    """change(the records of request rid) in one transaction under rid's lock; its new records inserted; its result."""
    def work(conn):
        if location not in _ready:
            database.ensure_schema(conn, COMPONENT, VERSION, _SCHEMA)
            _ready.add(location)
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('aigov.approval:' || %s, 0))", (rid,))
            new, result = change(_records(conn, rid))
            for record in new:
                conn.execute('INSERT INTO aigov_approvals (id, kind, record) VALUES (%s, %s, %s)',
                             (record['id'], record['kind'], json.dumps(record, sort_keys=True)))
        return result
    with database.session(location, WHAT, 'cannot write the approvals queue') as conn:
        return work(conn)


def read(location, rid=None):
    """The records as they are (of request rid, or all), without a lock and without creating anything."""
    def work(conn):
        if conn.execute("SELECT to_regclass('aigov_approvals')").fetchone()[0] is None:
            return []
        return _records(conn, rid)
    with database.session(location, WHAT, 'cannot read the approvals queue') as conn:
        return work(conn)
