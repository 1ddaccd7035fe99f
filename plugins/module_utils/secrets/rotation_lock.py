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
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import json
import os
import re

from ansible_collections.aigov.core.plugins.module_utils.common import database, paths
from ansible_collections.aigov.core.plugins.module_utils.common.atomic_write import write_atomically
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError

DEFAULT_DIR = paths.DATA_DIR + '/locks'  # relative to paths.base_dir(), as every aigov.core path
_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.@-]*$')


class LockHeld(AigovError):
    """Another live run holds the agent's lock; nothing was done."""


class LockError(AigovError):
    """The lock directory or file cannot be used."""


def _alive(pid):
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM  # it exists, owned by someone else
    return True


def location(lock_dir=None, environ=None):
    """Where the locks are: lock_dir when given, else $AIGOV_DATABASE when set, else DEFAULT_DIR; a directory as an
    absolute path (the "Paths" rule), a PostgreSQL URL as given (rotation_lock_postgres.py)."""
    chosen = lock_dir or (os.environ if environ is None else environ).get(database.ENV) or DEFAULT_DIR
    return chosen if database.is_database(chosen) else paths.local_path(chosen)


def _database():
    from ansible_collections.aigov.core.plugins.module_utils.secrets import rotation_lock_postgres  # pylint: disable=import-outside-toplevel
    return rotation_lock_postgres


def _path(lock_dir, agent):
    if not _NAME.match(agent or ''):
        raise LockError('agent must be a name of letters, digits and _.@- (got %r)' % (agent,))
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


def _describe(holder):
    if not holder:
        return 'an unknown run (unreadable lock file)'
    return 'process %s on %s since %s' % (holder.get('pid'), holder.get('machine'), holder.get('since'))


def _may_take(holder, agent, path, pid, machine):
    """(True, note) when pid on machine may take the lock its holder record describes, (False, None) when it holds it
    already; LockHeld when a live run (or one on another machine) has it. note says when a stale lock is taken over."""
    if holder is None:
        return True, None
    if holder.get('pid') == pid and holder.get('machine') == machine:
        return False, None
    stale = holder.get('machine') == machine and isinstance(holder.get('pid'), int) and not _alive(holder['pid'])
    if not stale:
        raise LockHeld('agent %s: another rotation holds %s (%s); nothing done. If that run is gone, remove the '
                       'file' % (agent, path, _describe(holder)))
    return True, 'took over the stale lock of %s (that process is gone)' % _describe(holder)


def predict(lock_dir, agent, pid, machine, state='locked'):
    """(changed, note) of acquire() (state locked) or release() (unlocked) as they would go now, touching nothing
    (check mode): the same LockHeld and LockError."""
    path = _path(lock_dir, agent)
    if database.is_database(lock_dir):
        return _database().predict(lock_dir, agent, pid, machine, state)
    holder = _read(path)
    if state == 'locked':
        if os.path.exists(lock_dir) and not os.access(lock_dir, os.W_OK | os.X_OK):
            raise LockError('cannot use lock directory %s: permission denied' % lock_dir)
        return _may_take(holder, agent, path, pid, machine)
    return bool(holder) and holder.get('pid') == pid and holder.get('machine') == machine, None


def acquire(lock_dir, agent, pid, machine, now=None):
    """Take the agent's lock for process pid on machine; return (taken, note). Raise LockHeld when a live run has it.

    taken is False when pid already holds it (a re-run of the task); note says
    when a stale lock was taken over.
    """
    path = _path(lock_dir, agent)
    if database.is_database(lock_dir):
        return _database().acquire(lock_dir, agent, pid, machine, now)

    def work():
        take, note = _may_take(_read(path), agent, path, pid, machine)
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
        return _database().release(lock_dir, agent, pid, machine)

    def work():
        holder = _read(path)
        if not holder or holder.get('pid') != pid or holder.get('machine') != machine:
            return False
        os.unlink(path)
        return True
    return _guarded(lock_dir, work)
