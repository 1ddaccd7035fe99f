# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rotation locks in PostgreSQL: one rotation of an agent at a time across every controller and execution node.

rotation_lock.py hands a lock location that is a PostgreSQL URL (common/database.py) here. A lock is a row
(agent, pid, machine, since) that outlives the task that took it, as the lock file does; check-and-take is one
transaction under a per-agent advisory lock, so two nodes cannot both take it. The rules are rotation_lock_rules.py's:
a holder on the same machine whose process is gone is stale and taken over; a holder elsewhere is never
guessed dead (release it with aigov.core.agent_secret_lock state=unlocked from that run, or delete its row).
"""

from __future__ import annotations

import datetime

from ansible_collections.aigov.core.plugins.module_utils.common import database
from ansible_collections.aigov.core.plugins.module_utils.secrets.rotation_lock_rules import LockError, holds, may_take

COMPONENT, VERSION = 'rotation_locks', 1
WHAT = 'rotation locks'
_SCHEMA = {1: ['CREATE TABLE aigov_rotation_locks (agent text PRIMARY KEY, pid integer, machine text, since text)']}
_ready = set()


def _run(location, agent, work, write=True):
    """work(holder, conn) in one transaction holding the agent's advisory lock; LockError when the database fails."""
    with database.session(location, WHAT, 'agent %s: cannot use the rotation lock' % agent, LockError) as conn:
        if location not in _ready:
            database.ensure_schema(conn, COMPONENT, VERSION, _SCHEMA)
            _ready.add(location)
        with conn.transaction():
            if write:
                conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('aigov.rotation:' || %s, 0))", (agent,))
            row = conn.execute('SELECT pid, machine, since FROM aigov_rotation_locks WHERE agent = %s', (agent,)).fetchone()
            holder = None if row is None else dict(agent=agent, pid=row[0], machine=row[1], since=row[2])
            return work(holder, conn)


def where(location, agent):
    return '%s (agent %s)' % (database.display(location), agent)


def predict(location, agent, pid, machine, state='locked'):
    def work(holder, _conn):
        if state == 'locked':
            return may_take(holder, agent, where(location, agent), pid, machine)
        return holds(holder, pid, machine), None
    return _run(location, agent, work, write=False)


def acquire(location, agent, pid, machine, now=None):
    def work(holder, conn):
        take, note = may_take(holder, agent, where(location, agent), pid, machine)
        if not take:
            return False, None
        since = (now or datetime.datetime.now(datetime.timezone.utc)).isoformat(timespec='seconds')
        conn.execute('INSERT INTO aigov_rotation_locks (agent, pid, machine, since) VALUES (%s, %s, %s, %s) '
                     'ON CONFLICT (agent) DO UPDATE SET pid = EXCLUDED.pid, machine = EXCLUDED.machine, '
                     'since = EXCLUDED.since', (agent, pid, machine, since))
        return True, note
    return _run(location, agent, work)


def release(location, agent, pid, machine):
    def work(holder, conn):
        if not holds(holder, pid, machine):
            return False
        conn.execute('DELETE FROM aigov_rotation_locks WHERE agent = %s', (agent,))
        return True
    return _run(location, agent, work)
