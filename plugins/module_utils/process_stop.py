# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a process is still alive, and stopping one by pid: SIGTERM, wait, SIGKILL.

A pid is a number the kernel reuses. A process is identified by its pid AND
its start time (field 22 of /proc/<pid>/stat), read before any signal: a pid
that comes back with another start time is another process, never signalled.
A zombie has already exited: it counts as gone.
"""

from __future__ import annotations

import os
import signal
import time

from ansible_collections.aigov.core.plugins.module_utils.errors import AigovError


def identity(proc_root, pid):
    """(pid, start time) of a live process, or None when it is gone (or a zombie)."""
    try:
        with open(os.path.join(proc_root, str(pid), 'stat')) as handle:
            text = handle.read()
    except (IOError, OSError):
        return None
    # The command name (field 2) is in parentheses and may hold spaces or ')': split after the last ')'.
    fields = text[text.rindex(')') + 2:].split()
    if fields[0] in ('Z', 'X'):
        return None
    return (int(pid), int(fields[19]))


def alive(proc_root, ident):
    """True while the process IDENT (from identity()) still runs."""
    return ident is not None and identity(proc_root, ident[0]) == ident


def wait_gone(proc_root, idents, timeout, clock=time.monotonic, sleep=time.sleep):
    """Wait up to TIMEOUT seconds; return the identities still alive."""
    deadline = clock() + timeout
    left = [ident for ident in idents if alive(proc_root, ident)]
    while left and clock() < deadline:
        sleep(0.1)
        left = [ident for ident in left if alive(proc_root, ident)]
    return left


def stop(proc_root, ident, term_timeout, kill_timeout=5, kill=os.kill, clock=time.monotonic, sleep=time.sleep):
    """SIGTERM IDENT, wait TERM_TIMEOUT s, then SIGKILL; return the signals sent. AigovError if it survives."""
    sent = []
    for signum, timeout in ((signal.SIGTERM, term_timeout), (signal.SIGKILL, kill_timeout)):
        if not alive(proc_root, ident):
            break
        try:
            kill(ident[0], signum)
        except ProcessLookupError:
            break
        except OSError as exc:
            raise AigovError('cannot signal pid %d: %s' % (ident[0], exc.strerror))
        sent.append(signal.Signals(signum).name)
        if not wait_gone(proc_root, [ident], timeout, clock, sleep):
            break
    if alive(proc_root, ident):
        raise AigovError('pid %d still runs after %s' % (ident[0], ' and '.join(sent)))
    return sent
