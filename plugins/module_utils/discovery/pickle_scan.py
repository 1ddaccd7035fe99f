# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Find what a pickle would import, by reading its opcodes; never by unpickling.

Loading a pickle runs whatever callables it names (GLOBAL / STACK_GLOBAL then
REDUCE). Model files in pickle-based formats (PyTorch .pt/.bin, joblib, raw
.pkl) are therefore code. This lists the globals a pickle references and
which of them can execute commands, open sockets or evaluate code.
"""

from __future__ import annotations

import io
import pickletools

# Modules any of whose attributes is dangerous, and single dangerous names.
DANGEROUS_MODULES = frozenset((
    'os', 'posix', 'nt', 'subprocess', 'runpy', 'socket', 'shutil', 'sys', 'pty', 'commands', 'webbrowser',
    'httplib', 'http.client', 'requests', 'urllib', 'urllib.request', 'ctypes', 'importlib', 'code', 'pdb',
    'multiprocessing', 'asyncio', 'telnetlib', 'ftplib', 'smtplib', 'pickle', '_pickle', 'marshal',
))
DANGEROUS_NAMES = frozenset((
    'builtins.eval', 'builtins.exec', 'builtins.compile', 'builtins.open', 'builtins.__import__', 'builtins.getattr',
    'builtins.setattr', 'builtins.globals', 'builtins.breakpoint', 'builtins.input',
    '__builtin__.eval', '__builtin__.exec', '__builtin__.compile', '__builtin__.open', '__builtin__.__import__',
    '__builtin__.getattr', '__builtin__.execfile', 'operator.attrgetter', 'operator.methodcaller',
    'numpy.testing._private.utils.runstring',
))
_STRING_OPS = frozenset(('SHORT_BINUNICODE', 'BINUNICODE', 'BINUNICODE8', 'UNICODE', 'SHORT_BINSTRING', 'BINSTRING', 'STRING'))
MAX_GLOBALS = 200  # a report lists at most this many distinct imports
# A scan reads at most this much of a stream and this many opcodes: a pickle that declares a
# multi-GB string, or a zip member that decompresses without end, costs no more.
MAX_BYTES = 64 * 1024 * 1024
MAX_OPS = 1000000


def is_dangerous(name):
    """True when a `module.attribute` global can run code or reach the system."""
    module = name.rsplit('.', 1)[0] if '.' in name else name
    top = module.split('.', 1)[0]
    return name in DANGEROUS_NAMES or module in DANGEROUS_MODULES or top in ('os', 'subprocess', 'socket', 'runpy', 'ctypes')


def scan_pickle(stream, max_pickles=8, max_bytes=MAX_BYTES, max_ops=MAX_OPS):
    """Return {'imports': [...], 'dangerous': [...], 'error': str|None} for a binary stream.

    Reads up to max_pickles consecutive pickles (legacy PyTorch files hold
    several: magic number, version, system info, then the model), stopping at
    the first later byte that does not start one. STACK_GLOBAL takes module and name
    from the stack; like modelscan, the two most recent string constants (or
    memo fetches of them) are taken. A malformed pickle, or one past max_bytes or
    max_ops, keeps what was read and says why it stopped in 'error'.
    """
    imports, error = [], None
    bounded = _Bounded(stream, max_bytes, max_ops)
    for index in range(max_pickles):
        try:
            start = bounded.read(1)
            # Protocols 0 and 1 have no header byte: the caller vouches for the
            # first pickle; later ones must start with PROTO.
            if not start or (index and start != b'\x80'):
                break
            bounded.unread(start)
            _read_one(bounded, imports)
        except Exception as exc:  # pickletools raises ValueError and others on garbage: keep what was read
            error = '%s: %s' % (type(exc).__name__, exc)
            break
    unique = sorted(set(imports))[:MAX_GLOBALS]
    return {'imports': unique, 'dangerous': [item for item in unique if is_dangerous(item)], 'error': error}


def scan_pickle_bytes(data):
    """scan_pickle over bytes in memory."""
    return scan_pickle(io.BytesIO(data))


class _Bounded(object):
    """The stream pickletools reads: a byte can be put back in front, and reading stops at the limits."""

    def __init__(self, stream, max_bytes, max_ops):
        self._stream, self._first = stream, b''
        self.max_bytes, self.left, self.ops_left = max_bytes, max_bytes, max_ops

    def unread(self, byte):
        self._first, self.left = byte, self.left + len(byte)

    def _past_limit(self):
        return ValueError('stopped at the limit of %d bytes read' % self.max_bytes)

    def read(self, size):
        if size > self.left:  # a declared length past the limit is not even read
            raise self._past_limit()
        head, self._first = self._first[:size], self._first[size:]
        data = head + (self._stream.read(size - len(head)) if size > len(head) else b'')
        self.left -= len(data)
        return data

    def readline(self):
        head, self._first = self._first, b''
        line = head if head == b'\n' else head + self._stream.readline(self.left + 1 - len(head))
        self.left -= len(line)
        if self.left < 0:
            raise self._past_limit()
        return line

    def count_op(self):
        self.ops_left -= 1
        if self.ops_left < 0:
            raise ValueError('stopped at the limit of opcodes read')


def _read_one(stream, imports):
    strings, memo = [], {}
    for opcode, arg, _pos in pickletools.genops(stream):
        stream.count_op()
        name = opcode.name
        if name in _STRING_OPS:
            strings.append(arg if isinstance(arg, str) else str(arg))
        elif name == 'MEMOIZE' and strings:
            memo[len(memo)] = strings[-1]
        elif name in ('PUT', 'BINPUT', 'LONG_BINPUT') and strings:
            memo[arg] = strings[-1]
        elif name in ('GET', 'BINGET', 'LONG_BINGET') and arg in memo:
            strings.append(memo[arg])
        elif name in ('GLOBAL', 'INST'):
            imports.append(arg.replace(' ', '.', 1))
        elif name == 'STACK_GLOBAL' and len(strings) >= 2:
            imports.append('%s.%s' % (strings[-2], strings[-1]))
