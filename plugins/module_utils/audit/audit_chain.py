# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit chain's rules, shared by both backends (audit_log.py's file, audit_log_postgres.py's database).

An entry's `hash` is the sha256 of its canonical JSON without `hash`; `prev_hash` is the hash of the
entry before it (64 zeros for the first). This module makes entries (prepare), refuses secret-shaped
values, numbers and hashes entries after a previous one (chain) and says what the stored line is: the
backends only decide where the previous entry comes from and where the lines go.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re

from ansible_collections.aigov.core.plugins.module_utils.common import fast_json
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.common.redaction import SECRET_VALUE

SCHEMA_VERSION = 1
GENESIS_HASH = '0' * 64
OUTCOMES = ('success', 'failure', 'refused', 'rolled_back', 'planned')
FIELDS = ('schema_version', 'seq', 'time', 'actor', 'action', 'subject', 'owner', 'outcome', 'reasons', 'details',
          'prev_hash', 'hash')
AFTER_HASH = b',"outcome":'  # the member that follows `hash` in an entry's sorted keys


class AuditLogError(AigovError):
    """The audit log cannot be read or appended to, or an entry is refused."""


def canonical(entry):
    """The bytes that are hashed: sorted keys, no spaces, UTF-8 (the json module's, through orjson when it can)."""
    return fast_json.canonical(entry)


def hashed_line(entry):
    """(hash, line) of an entry prepare() made and chain() numbered, serializing it once.

    Its canonical JSON is hashed; the line is the same with `"hash":"..."` put where sorted keys
    put it, before `outcome`: byte for byte canonical() of the entry with its hash. Every member
    after `outcome` (owner, prev_hash, reasons, schema_version, seq, subject, time) is a string,
    a number, null or a list of strings, so the last ',"outcome":' of the text is that member
    (inside a JSON string a quote is always escaped).
    """
    text = canonical(entry)
    digest = hashlib.sha256(text).hexdigest()
    if not isinstance(entry['time'], str):  # a caller's `now` of another JSON type: splice nothing blindly
        return digest, canonical(dict(entry, hash=digest)) + b'\n'
    cut = text.rindex(AFTER_HASH)
    return digest, b'%s,"hash":"%s"%s\n' % (text[:cut], digest.encode('ascii'), text[cut:])


def entry_hash(entry):
    """sha256 hex of the canonical JSON of entry without its `hash` key."""
    return hashlib.sha256(canonical(dict((k, v) for k, v in entry.items() if k != 'hash'))).hexdigest()


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='microseconds')


_SCHEME_CHARS = frozenset('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-')
_AFTER_SCHEME = re.compile(r'://([^/@\s]*)@')  # '://', the userinfo (no '/', '@' or space), '@'


def url_credentials(text):
    """True when text holds user:password@ after a URL scheme (redaction.URL_CREDENTIALS), in linear time.

    That regex, searched, rescans a long run of scheme characters from every start (quadratic: seconds
    for 4 KB labels, hours for 1 MB). This one starts with a literal: the userinfo after each '://' is
    scanned once (it holds no '/', so the next '://' starts at its last character at the earliest), and
    only a candidate ending in '@' is looked at again, for its ':' and the scheme before it.
    """
    for found in _AFTER_SCHEME.finditer(text):
        if ':' in found.group(1) and _has_scheme(text, found.start()):
            return True
    return False


def _has_scheme(text, colon):
    """True when a letter starts a run of scheme characters ending at text[colon] (the scheme's first character is a letter)."""
    position = colon - 1
    while position >= 0 and text[position] in _SCHEME_CHARS:
        if text[position].isascii() and text[position].isalpha():
            return True
        position -= 1
    return False


def _secret_shaped(text):
    return SECRET_VALUE.match(text) or ('@' in text and url_credentials(text))  # no '@', no credentials in a URL


def check_no_secrets(value, where):
    """Refuse values shaped like provider keys or URLs with passwords: details carry fingerprints only."""
    if isinstance(value, dict):
        items, spot = value.items(), '%s.%s'
    elif isinstance(value, (list, tuple)):
        items, spot = enumerate(value), '%s[%d]'
    else:
        if isinstance(value, str) and _secret_shaped(value):
            raise AuditLogError('refusing audit entry: %s looks like a secret value; record its fingerprint instead' % where)
        return
    for key, item in items:
        if isinstance(item, (str, dict, list, tuple)):  # the place is named only when something is refused
            if item.__class__ is str and not _secret_shaped(item):
                continue
            check_no_secrets(item, spot % (where, key))


def recordable(text):
    """text, or 'sha256:' and the start of its digest when append() would refuse it as secret-shaped.

    For values a sender or a host chose (an alert's fingerprint, name, start): the entry is still
    written and still names the value by its digest. Every writer and reader of such a field uses it.
    """
    text = str(text)
    if _secret_shaped(text):
        return 'sha256:' + hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]
    return text


def prepare(actor, action, subject, owner, outcome, reasons=(), details=None, now=None, batch_time=None):
    """An entry without seq and hashes; refused (AuditLogError) when it is not plain data or looks secret.

    Its time is now, else batch_time (the entries of one write share it), else the current time.
    """
    if outcome not in OUTCOMES:
        raise AuditLogError('audit outcome must be one of %s, not %r' % (', '.join(OUTCOMES), outcome))
    details = dict(details or {})
    reasons = [str(reason) for reason in reasons]
    check_no_secrets(details, 'details')
    check_no_secrets(reasons, 'reasons')
    return dict(schema_version=SCHEMA_VERSION, time=now or batch_time or utc_now(), actor=str(actor), action=str(action),
                subject=str(subject), owner=None if owner is None else str(owner), outcome=outcome,
                reasons=reasons, details=details)


def prepare_many(records):
    """prepare() of each record (a dict of append()'s keyword arguments but path), sharing one time: all or none."""
    stamp = utc_now()
    return [prepare(batch_time=stamp, **record) for record in records]


def chain(entries, previous):
    """The lines of entries chained after previous; AuditLogError (nothing written yet) when one is not JSON data."""
    lines = []
    for entry in entries:
        entry['seq'] = 1 if previous is None else previous['seq'] + 1
        entry['prev_hash'] = GENESIS_HASH if previous is None else previous['hash']
        try:
            entry['hash'], line = hashed_line(entry)
        except (TypeError, ValueError) as exc:
            raise AuditLogError('audit entry details must be plain JSON data: %s' % exc)
        lines.append(line)
        previous = entry
    return b''.join(lines)


def parsed(raw):
    """The entry of a stored line (bytes), or None when it is not a JSON object."""
    try:
        entry = json.loads(raw.decode('utf-8'))
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None
