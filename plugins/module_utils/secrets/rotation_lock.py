# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One rotation of an agent at a time on a controller: a lock file per agent, held across a run's tasks.

The backend's check-and-set already stops a lost update, but a whole rotation
is several steps (write, deliver, restart, verify, maybe roll back) and two
runs interleaving them could leave an agent holding a value the backend no
longer calls current. So a run takes `<lock_dir>/<agent>.lock` before it reads
the agent's secret and drops it at the end.

A lock outlives the task that took it, so it cannot be an flock. It names its
holder (the ansible-playbook process and the machine); a lock whose holder is
a dead process on this machine (a killed run) is stale and taken over. A
short flock on `<lock_dir>/.guard` makes check-and-take atomic.

Who may take or drop a lock, and the errors, are rotation_lock_rules.py's, shared with the PostgreSQL
backend (rotation_lock_postgres.py), which every function here hands a database URL to.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os

from ansible_collections.aigov.core.plugins.module_utils.common import database, paths
from ansible_collections.aigov.core.plugins.module_utils.common.atomic_write import write_atomically
from ansible_collections.aigov.core.plugins.module_utils.secrets import rotation_lock_postgres
from ansible_collections.aigov.core.plugins.module_utils.secrets.rotation_lock_rules import (
    LockError, LockHeld, check_agent, holds, may_take)

DEFAULT_DIR = paths.DATA_DIR + '/locks'  # relative to paths.base_dir(), as every aigov.core path
__all__ = ['DEFAULT_DIR', 'LockError', 'LockHeld', 'acquire', 'location', 'predict', 'release']


def location(lock_dir=None, environ=None):
    """Where the locks are: lock_dir when given, else $AIGOV_DATABASE when set, else DEFAULT_DIR; a directory as an
    absolute path (the "Paths" rule), a PostgreSQL URL as given (rotation_lock_postgres.py)."""
    chosen = lock_dir or (os.environ if environ is None else environ).get(database.ENV) or DEFAULT_DIR
    return chosen if database.is_database(chosen) else paths.local_path(chosen)


def _path(lock_dir, agent):
    check_agent(agent)
    return os.path.join(lock_dir, '%s.lock' % agent)


def _read(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}  # unreadable or half-written: treated as held by an unknown run, never silently replaced


def _guarded(lock_dir, work):
    try:
        os.makedirs(lock_dir, mode=0o700, exist_ok=True)
        fd = os.open(os.path.join(lock_dir, '.guard'), os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise LockError('cannot use lock directory %s: %s' % (lock_dir, exc.strerror))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return work()
    finally:
        os.close(fd)


def predict(lock_dir, agent, pid, machine, state='locked'):
    """(changed, note) of acquire() (state locked) or release() (unlocked) as they would go now, touching nothing
    (check mode): the same LockHeld and LockError."""
    path = _path(lock_dir, agent)
    if database.is_database(lock_dir):
        return rotation_lock_postgres.predict(lock_dir, agent, pid, machine, state)
    holder = _read(path)
    if state == 'locked':
        if os.path.exists(lock_dir) and not os.access(lock_dir, os.W_OK | os.X_OK):
            raise LockError('cannot use lock directory %s: permission denied' % lock_dir)
        return may_take(holder, agent, path, pid, machine)
    return holds(holder, pid, machine), None


def acquire(lock_dir, agent, pid, machine, now=None):
    """Take the agent's lock for process pid on machine; return (taken, note). Raise LockHeld when a live run has it.

    taken is False when pid already holds it (a re-run of the task); note says
    when a stale lock was taken over.
    """
    path = _path(lock_dir, agent)
    if database.is_database(lock_dir):
        return rotation_lock_postgres.acquire(lock_dir, agent, pid, machine, now)

    def work():
        take, note = may_take(_read(path), agent, path, pid, machine)
        if not take:
            return False, None
        since = (now or datetime.datetime.now(datetime.timezone.utc)).isoformat(timespec='seconds')
        try:
            write_atomically(path, json.dumps(dict(agent=agent, pid=pid, machine=machine, since=since)))
        except OSError as exc:
            raise LockError('agent %s: cannot write lock %s: %s' % (agent, path, exc.strerror))
        return True, note
    return _guarded(lock_dir, work)


def release(lock_dir, agent, pid, machine):
    """Drop the agent's lock if pid on machine holds it; return whether a lock was removed."""
    path = _path(lock_dir, agent)
    if database.is_database(lock_dir):
        return rotation_lock_postgres.release(lock_dir, agent, pid, machine)

    def work():
        if not holds(_read(path), pid, machine):
            return False
        os.unlink(path)
        return True
    return _guarded(lock_dir, work)
