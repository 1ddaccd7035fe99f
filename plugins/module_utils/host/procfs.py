# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read processes and listening TCP sockets from a Linux /proc tree.

Plain Python, no Ansible imports: modules call it on the target host, unit tests
point it at a fake /proc tree. Every reader tolerates processes that exit while
being read and permissions it does not have; what it could not see is returned
as a problem, never raised.
"""

from __future__ import annotations

import os
import socket
import struct

TCP_LISTEN = '0A'


class Process(object):
    """One process as seen in /proc: pid, parent, owner, argv and start time (what tells it from a later process
    that gets the same pid)."""

    __slots__ = ('pid', 'ppid', 'uid', 'argv', 'exe', 'start_time')

    def __init__(self, pid, ppid, uid, argv, exe=None, start_time=None):
        self.pid = pid
        self.ppid = ppid
        self.uid = uid
        self.argv = argv
        self.exe = exe
        self.start_time = start_time


def _read(path, mode='r'):
    with open(path, mode) as handle:
        return handle.read()


def parse_stat(text):
    """(state, start time) from /proc/<pid>/stat: the start time is field 22, in clock ticks since boot."""
    # The command name (field 2) is in parentheses and may hold spaces or ')': split after the last ')'.
    fields = text[text.rindex(')') + 2:].split()
    return fields[0], int(fields[19])


def parse_uid(status):
    """The real uid from /proc/<pid>/status, or None."""
    for line in status.splitlines():
        if line.startswith('Uid:'):
            return int(line.split()[1])
    return None


def list_pids(proc_root):
    """Return the numeric entries of proc_root (one per process), sorted."""
    return sorted(int(name) for name in os.listdir(proc_root) if name.isdigit())


def read_argv(proc_root, pid):
    """Return a process's argv, or None when it vanished or is a kernel thread/zombie."""
    try:
        raw = _read(os.path.join(proc_root, str(pid), 'cmdline'), 'rb')
    except (IOError, OSError):
        return None
    argv = [part.decode('utf-8', 'replace') for part in raw.split(b'\0')]
    while argv and argv[-1] == '':
        argv.pop()
    return argv or None


def read_process(proc_root, pid, argv=None):
    """Return a Process, or None when it vanished or is a kernel thread.

    Pass argv when already read: scanning reads only argv of every process
    and the rest of the few that matter.
    """
    argv = argv or read_argv(proc_root, pid)
    if not argv:
        return None
    base = os.path.join(proc_root, str(pid))
    try:
        status = _read(os.path.join(base, 'status'))
        start_time = parse_stat(_read(os.path.join(base, 'stat')))[1]
    except (IOError, OSError):
        return None
    ppid = next((int(line.split()[1]) for line in status.splitlines() if line.startswith('PPid:')), 0)
    try:
        exe = os.readlink(os.path.join(base, 'exe'))
    except (IOError, OSError):
        exe = None
    return Process(pid, ppid, parse_uid(status), argv, exe, start_time)


def read_environ(proc_root, pid, keep_values):
    """Return (names, values) of a process environment.

    Only the variables named in keep_values have their value returned: the
    environment of an AI process routinely holds API keys, and a value that is
    never copied cannot leak. Raises OSError when the environment is unreadable.
    """
    raw = _read(os.path.join(proc_root, str(pid), 'environ'), 'rb')
    names, values = set(), {}
    for entry in raw.split(b'\0'):
        name, sep, value = entry.partition(b'=')
        if not sep or not name:
            continue
        name = name.decode('utf-8', 'replace')
        names.add(name)
        if name in keep_values:
            values[name] = value.decode('utf-8', 'replace')
    return names, values


def socket_inodes(proc_root, pid):
    """Return the set of socket inodes a process holds open (OSError if not permitted)."""
    fd_dir = os.path.join(proc_root, str(pid), 'fd')
    inodes = set()
    for name in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, name))
        except (IOError, OSError):
            continue  # fd closed between listdir and readlink
        if target.startswith('socket:['):
            inodes.add(int(target[8:-1]))
    return inodes


def _decode_address(hex_address, family):
    """Decode the host-byte-order hex address used by /proc/net/tcp{,6}."""
    raw = bytes.fromhex(hex_address)
    # The kernel prints each 32-bit word in host order (little-endian on every
    # platform Ansible targets in practice): swap each word back.
    words = struct.unpack('<%dI' % (len(raw) // 4), raw)
    packed = struct.pack('>%dI' % len(words), *words)
    return socket.inet_ntop(family, packed)


def parse_tcp_table(text, family):
    """Parse a /proc/net/tcp or tcp6 table; return {inode: (address, port)} of LISTEN sockets."""
    listeners = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != TCP_LISTEN:
            continue
        hex_address, hex_port = fields[1].split(':')
        listeners[int(fields[9])] = (_decode_address(hex_address, family), int(hex_port, 16))
    return listeners


def listening_sockets(proc_root, pid):
    """Return {inode: (address, port)} for every TCP socket listening in pid's network namespace.

    Read through /proc/<pid>/net so that a process in another network
    namespace (a container on this host) is seen with its own sockets.
    """
    listeners = {}
    for name, family in (('tcp', socket.AF_INET), ('tcp6', socket.AF_INET6)):
        try:
            text = _read(os.path.join(proc_root, str(pid), 'net', name))
        except (IOError, OSError):
            continue  # no IPv6 in this kernel/namespace, or the process ended
        listeners.update(parse_tcp_table(text, family))
    return listeners


def is_loopback(address):
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback."""
    if address.startswith('::ffff:'):
        address = address[7:]
    return address.startswith('127.') or address == '::1'
