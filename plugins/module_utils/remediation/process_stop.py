# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which process a pid is, and stopping one by pid: SIGTERM, wait, SIGKILL.

A pid is a number the kernel reuses. A process is identified by its pid AND
its start time (field 22 of /proc/<pid>/stat), as discovery recorded them:
every action checks both at the moment it acts. A pid that now has another
start time is another process: it is never read from or signalled, and the
action is refused. A zombie has already exited: it counts as gone.

Reads go through a descriptor of /proc/<pid>, signals through a pidfd, each
opened before the start time is checked: both keep referring to the process
that was checked, and fail (ESRCH) once it exits, even if its pid is reused.
"""

from __future__ import annotations

import os
import signal
import time

from ansible_collections.aigov.core.plugins.module_utils.host import procfs
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError


def identity(proc_root, pid):
    """(pid, start time) of a live process, or None when it is gone (or a zombie)."""
    try:
        with open(os.path.join(proc_root, str(pid), 'stat')) as handle:
            state, start_time = procfs.parse_stat(handle.read())
    except (IOError, OSError):
        return None
    return None if state in ('Z', 'X') else (int(pid), start_time)


def start_times(value):
    """{pid: start time} from a mapping keyed by pid or by its digits (JSON and module options have string keys)."""
    try:
        return dict((int(pid), int(start)) for pid, start in (value or {}).items())
    except (AttributeError, TypeError, ValueError):
        raise AigovError('start_times must map pids to start times (whole numbers), got %r' % (value,))


def _reused(pid, now, seen):
    return AigovError('pid %d is another process now (started at %d, discovery saw %d): the kernel reused the pid; '
                      'nothing done' % (pid, now, seen))


def _read_at(dir_fd, name):
    with os.fdopen(os.open(name, os.O_RDONLY, dir_fd=dir_fd)) as handle:
        return handle.read()


def read_files(proc_root, pid, start_time, names):
    """{name: text of /proc/<pid>/<name>} of the process discovery saw as PID, started at START_TIME.

    None when that process is gone; AigovError when PID is another process now
    or START_TIME is not a number (nothing is read then).
    """
    if isinstance(start_time, bool) or not isinstance(start_time, int):
        raise AigovError('pid %d has no start time (field 22 of /proc/<pid>/stat, as discovery recorded it): '
                         'the process cannot be told from a later one with the same pid; nothing done' % pid)
    try:
        dir_fd = os.open(os.path.join(proc_root, str(pid)), os.O_RDONLY | os.O_DIRECTORY)
    except (IOError, OSError):
        return None
    try:
        state, now = procfs.parse_stat(_read_at(dir_fd, 'stat'))
        if state in ('Z', 'X'):
            return None
        if now != start_time:
            raise _reused(pid, now, start_time)
        return dict((name, _read_at(dir_fd, name)) for name in names)
    except (IOError, OSError):
        return None  # it exited while being read
    finally:
        os.close(dir_fd)


def find(proc_root, pid, start_time):
    """The identity (pid, start time) of the process discovery saw, None when it is gone (read_files' errors)."""
    return None if read_files(proc_root, pid, start_time, ()) is None else (pid, start_time)


def alive(proc_root, ident):
    """True while the process IDENT (from identity() or find()) still runs."""
    return ident is not None and identity(proc_root, ident[0]) == ident


def wait_gone(proc_root, idents, timeout, clock=time.monotonic, sleep=time.sleep):
    """Wait up to TIMEOUT seconds; return the identities still alive."""
    deadline = clock() + timeout
    left = [ident for ident in idents if alive(proc_root, ident)]
    while left and clock() < deadline:
        sleep(0.1)
        left = [ident for ident in left if alive(proc_root, ident)]
    return left


def _pidfd(proc_root, ident):
    """A pidfd of the process IDENT, or None when it is gone; AigovError when its pid is another process now."""
    try:
        fd = os.pidfd_open(ident[0])
    except ProcessLookupError:
        return None
    except (AttributeError, OSError) as exc:  # Python < 3.9 or Linux < 5.3
        raise AigovError('cannot open a pidfd of pid %d (%s): a signal by pid alone could reach another process; '
                         'nothing signalled' % (ident[0], getattr(exc, 'strerror', None) or exc))
    now = identity(proc_root, ident[0])  # read after the open: the pidfd is the process with this start time
    if now == ident:
        return fd
    os.close(fd)
    if now is None:
        return None
    raise _reused(ident[0], now[1], ident[1])


def stop(proc_root, ident, term_timeout, kill_timeout=5, clock=time.monotonic, sleep=time.sleep):
    """SIGTERM IDENT, wait TERM_TIMEOUT s, then SIGKILL; return the signals sent. AigovError if it survives."""
    fd = _pidfd(proc_root, ident)
    if fd is None:
        return []
    sent = []
    try:
        for signum, timeout in ((signal.SIGTERM, term_timeout), (signal.SIGKILL, kill_timeout)):
            try:
                signal.pidfd_send_signal(fd, signum)
            except ProcessLookupError:
                break
            except OSError as exc:
                raise AigovError('cannot signal pid %d: %s' % (ident[0], exc.strerror))
            sent.append(signal.Signals(signum).name)
            if not wait_gone(proc_root, [ident], timeout, clock, sleep):
                break
    finally:
        os.close(fd)
    if alive(proc_root, ident):
        raise AigovError('pid %d still runs after %s' % (ident[0], ' and '.join(sent)))
    return sent
