# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Quarantine a model file: move it out of the serving path, with a record to restore it.

The file goes to <quarantine_dir>/<sha256 prefix>-<path hash>/<basename>
(directory 0700, file 0600) next to record.json: original path, sha256, size,
owner, group, mode, time, rules and findings. A file already moved is
recognised by its record, so a second run changes nothing.
"""

from __future__ import annotations

import datetime
import grp
import hashlib
import json
import os
import pwd
import shutil
import stat as stat_module

from ansible_collections.aigov.core.plugins.module_utils.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.hash_cache import sha256_file

RECORD_SCHEMA_VERSION = 1
RECORD_NAME = 'record.json'


def _name(uid, lookup, attr):
    try:
        return getattr(lookup(uid), attr)
    except KeyError:
        return None


def _slot(quarantine_dir, path, digest):
    path_hash = hashlib.sha256(path.encode('utf-8', 'surrogateescape')).hexdigest()[:8]
    return os.path.join(quarantine_dir, '%s-%s' % (digest[:16], path_hash))


def find_record(quarantine_dir, path):
    """The record of PATH in QUARANTINE_DIR, or None."""
    if not os.path.isdir(quarantine_dir):
        return None
    for entry in sorted(os.listdir(quarantine_dir)):
        record_path = os.path.join(quarantine_dir, entry, RECORD_NAME)
        try:
            with open(record_path) as handle:
                record = json.load(handle)
        except (IOError, OSError, ValueError):
            continue
        if record.get('original_path') == path:
            return record
    return None


def _write_record(slot, record):
    tmp = os.path.join(slot, '.%s.tmp' % RECORD_NAME)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as handle:
        json.dump(record, handle, indent=2, sort_keys=True)
        handle.write('\n')
    os.rename(tmp, os.path.join(slot, RECORD_NAME))


def quarantine(path, quarantine_dir, rule_ids=(), finding_ids=(), expected_sha256=None, check_mode=False, now=None,
               original_path=None):
    """Move PATH into QUARANTINE_DIR; return (changed, result).

    original_path: where the file was served from, when PATH is a staged link
    to it (a rollback swaps the served path first, then quarantines the old
    file): the record, and a later find_record(), name that path.

    result: {path, state, quarantined_as, record}; state is quarantined
    (moved now, or would be in check mode), already_quarantined or absent.
    Refuses symlinks and non-regular files, and a file whose content is not
    EXPECTED_SHA256 when given (it changed since the scan: look again first).
    """
    if not os.path.isabs(path) or not os.path.isabs(quarantine_dir):
        raise AigovError('quarantine needs absolute paths, got %r and %r' % (path, quarantine_dir))
    if os.path.realpath(quarantine_dir).startswith(os.path.realpath(path) + os.sep):
        raise AigovError('quarantine_dir %s is inside %s' % (quarantine_dir, path))
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        record = find_record(quarantine_dir, path)
        state = 'already_quarantined' if record else 'absent'
        return False, {'path': path, 'state': state, 'quarantined_as': record and record['quarantined_as'], 'record': record}
    except OSError as exc:
        raise AigovError('cannot read %s to quarantine it: %s' % (path, exc.strerror))
    if not stat_module.S_ISREG(info.st_mode):
        raise AigovError('refusing to quarantine %s: not a regular file (symlinks are not followed)' % path)
    digest = sha256_file(path)
    if expected_sha256 and digest != expected_sha256:
        raise AigovError('refusing to quarantine %s: its sha256 is %s, not %s as scanned; re-run the scan'
                         % (path, digest, expected_sha256))
    recorded = original_path or path
    slot = _slot(quarantine_dir, recorded, digest)
    dest = os.path.join(slot, os.path.basename(recorded))
    now = now or datetime.datetime.now(datetime.timezone.utc)
    record = {
        'schema_version': RECORD_SCHEMA_VERSION, 'original_path': recorded, 'quarantined_as': dest, 'sha256': digest,
        'size': info.st_size, 'uid': info.st_uid, 'owner': _name(info.st_uid, pwd.getpwuid, 'pw_name'),
        'gid': info.st_gid, 'group': _name(info.st_gid, grp.getgrgid, 'gr_name'),
        'mode': '%04o' % stat_module.S_IMODE(info.st_mode), 'time': now.strftime('%Y-%m-%dT%H:%M:%SZ'),
        'rule_ids': sorted(rule_ids or ()), 'finding_ids': sorted(finding_ids or ()),
    }
    result = {'path': path, 'state': 'quarantined', 'quarantined_as': dest, 'record': record}
    if check_mode:
        return True, result
    try:
        os.makedirs(quarantine_dir, mode=0o700, exist_ok=True)
        os.chmod(quarantine_dir, 0o700)
        os.makedirs(slot, mode=0o700, exist_ok=True)
        _write_record(slot, record)  # first, so a crash mid-move still says where the file came from
        shutil.move(path, dest)
        os.chmod(dest, 0o600)
    except (IOError, OSError) as exc:
        raise AigovError('cannot quarantine %s into %s: %s' % (path, slot, exc.strerror or exc))
    return True, result
