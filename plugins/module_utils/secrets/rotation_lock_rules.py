# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rules of a rotation lock, the same for both backends (rotation_lock.py's files, rotation_lock_postgres.py's
rows): its errors, which agent names a lock may have, and who may take or drop a lock a holder record describes.

A holder record is a dict (agent, pid, machine, since); None when nobody holds the lock, {} when the record
cannot be read (held by an unknown run, never silently replaced).
"""

from __future__ import annotations

import errno
import os
import re

from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError

_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.@-]*$')


class LockHeld(AigovError):
    """Another live run holds the agent's lock; nothing was done."""


class LockError(AigovError):
    """The lock directory or file cannot be used."""


def check_agent(agent):
    """LockError unless agent is a name a lock may have (letters, digits and _.@-, no path)."""
    if not _NAME.match(agent or ''):
        raise LockError('agent must be a name of letters, digits and _.@- (got %r)' % (agent,))


def _alive(pid):
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM  # it exists, owned by someone else
    return True


def _describe(holder):
    if not holder:
        return 'an unknown run (unreadable lock file)'
    return 'process %s on %s since %s' % (holder.get('pid'), holder.get('machine'), holder.get('since'))


def may_take(holder, agent, where, pid, machine):
    """(True, note) when pid on machine may take the lock its holder record describes, (False, None) when it holds it
    already; LockHeld when a live run (or one on another machine) has it. note says when a stale lock is taken over.
    where names the lock in messages (a file, or a database and agent)."""
    if holder is None:
        return True, None
    if holds(holder, pid, machine):
        return False, None
    stale = holder.get('machine') == machine and isinstance(holder.get('pid'), int) and not _alive(holder['pid'])
    if not stale:
        raise LockHeld('agent %s: another rotation holds %s (%s); nothing done. If that run is gone, remove the '
                       'file' % (agent, where, _describe(holder)))
    return True, 'took over the stale lock of %s (that process is gone)' % _describe(holder)


def holds(holder, pid, machine):
    """True when the holder record names pid on machine (it may release the lock)."""
    return bool(holder) and holder.get('pid') == pid and holder.get('machine') == machine
