# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Seals on the audit entries that let a remediation run: HMAC-SHA256 with the decision key.

The audit log's hash chain is not keyed: whoever can append to the log can append a
well-formed entry. The event source's `decision` entries and the `approval.decision`
entries are therefore sealed with a key that the other writers of the log do not hold:
details.seal = 'hmac-sha256:<key id>:<hex>' over the entry's content (everything but
seq, time and the hashes); which entries are sealed is audit/entries.py's sealed_kind(). remediation_plan, approval_queue, audit_verify and
governance_report check seals with check(); nothing else decides what a valid seal is.

The key file (docs/remediation.md, "The decision key"): one key a line, `<key id>:<key>`,
the first line signs, the lines after it are earlier keys still accepted (rotation);
blank lines and lines starting with # are ignored. It must not be readable by others.
"""

from __future__ import annotations

import hmac
import os
import re
import stat

from ansible_collections.aigov.core.plugins.module_utils.audit.audit_log import canonical
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError

ENV_FILE = 'AIGOV_DECISION_KEY_FILE'
SEAL = 'seal'  # the member of details that holds it
ALGORITHM = 'hmac-sha256'
MIN_KEY_LENGTH = 32
_KEY_ID = re.compile(r'^[A-Za-z0-9._-]{1,64}$')
_CONTEXT = b'aigov.core sealed audit entry v1\n'
_CONTENT = ('actor', 'action', 'subject', 'owner', 'outcome', 'reasons')


class DecisionKeyError(AigovError):
    """The decision key file is missing, unreadable, readable by others or invalid (the message names no key)."""


def _content(entry):
    details = entry.get('details') if isinstance(entry.get('details'), dict) else {}
    body = dict((key, entry.get(key)) for key in _CONTENT)
    body['details'] = dict((key, value) for key, value in details.items() if key != SEAL)
    return _CONTEXT + canonical(body)


class KeyRing(object):
    """The decision keys: [(key id, key bytes)], the first one signs."""

    def __init__(self, keys):
        if not keys:
            raise DecisionKeyError('a decision key ring needs at least one key')
        self.keys = list(keys)
        self._by_id = dict(self.keys)

    @property
    def current(self):
        return self.keys[0][0]

    def _mac(self, key_id, entry):
        return hmac.digest(self._by_id[key_id], _content(entry), 'sha256').hex()

    def seal(self, record):
        """record (append() arguments, or an entry) with details.seal made by the current key."""
        details = dict(record.get('details') or {})
        sealed = dict(record)
        sealed['details'] = details
        details[SEAL] = '%s:%s:%s' % (ALGORITHM, self.current, self._mac(self.current, sealed))
        return sealed

    def check(self, entry):
        """None when the entry's seal holds; else why not: 'missing', 'unknown key <id>' or 'bad'."""
        details = entry.get('details') if isinstance(entry.get('details'), dict) else {}
        seal = details.get(SEAL)
        if not isinstance(seal, str):
            return 'missing'
        algorithm, _sep, rest = seal.partition(':')
        key_id, _sep, mac = rest.rpartition(':')
        if algorithm != ALGORITHM or not key_id:
            return 'bad'
        if key_id not in self._by_id:
            return 'unknown key %s' % key_id if _KEY_ID.match(key_id) else 'bad'
        return None if hmac.compare_digest(mac.encode('ascii', 'replace'), self._mac(key_id, entry).encode('ascii')) else 'bad'


def parse(text, where):
    """The KeyRing of a key file's text; DecisionKeyError names the line, never the key."""
    keys = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        key_id, sep, key = line.partition(':')
        if not sep or not _KEY_ID.match(key_id) or len(key.strip()) < MIN_KEY_LENGTH:
            raise DecisionKeyError('%s line %d is not "<key id>:<key of at least %d characters>" (key id: letters, digits, '
                                   '".", "_", "-")' % (where, number, MIN_KEY_LENGTH))
        if key_id in dict(keys):
            raise DecisionKeyError('%s line %d repeats key id %s' % (where, number, key_id))
        keys.append((key_id, key.strip().encode('utf-8')))
    if not keys:
        raise DecisionKeyError('%s holds no key' % where)
    return KeyRing(keys)


def load(path):
    """The KeyRing of the key file at path; refused when others may read or write it."""
    if not path:
        raise DecisionKeyError('no decision key file: set the decision_key_file option or %s (docs/remediation.md, '
                               '"The decision key")' % ENV_FILE)
    try:
        with open(path, 'rb') as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise DecisionKeyError('decision key file %s is not a regular file' % path)
            if info.st_mode & (stat.S_IRWXO | stat.S_IWGRP):
                raise DecisionKeyError('decision key file %s is readable or writable by others (mode %04o): make it 0600 '
                                       'or 0640' % (path, stat.S_IMODE(info.st_mode)))
            text = handle.read(65536).decode('utf-8')
    except OSError as exc:
        raise DecisionKeyError('cannot read decision key file %s: %s' % (path, exc.strerror))
    except UnicodeDecodeError:
        raise DecisionKeyError('decision key file %s is not UTF-8 text' % path)
    return parse(text, 'decision key file %s' % path)
