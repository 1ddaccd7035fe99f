# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Quarantine a model file: move it out of the serving path, with a record to restore it.

The file goes to <quarantine_dir>/<sha256 prefix>-<path hash>/<basename>
(directory 0700, file 0600) next to record.json: original path, sha256, size,
owner, group, mode, time, rules and findings. A file already moved is
recognised by its record, so a second run changes nothing.

The file is reached and moved through module_utils/host/safe_files.py: it is hashed
through the descriptor that is then moved, and the inode that arrives in
quarantine must be that one (a user who swaps their file for a symlink while it
is hashed gets it back, and nothing is moved or changed).
"""

from __future__ import annotations

import datetime
import grp
import hashlib
import json
import os
import pwd
import stat as stat_module

from ansible_collections.aigov.core.plugins.module_utils.host import safe_files
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError

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
        try:
            record = json.loads(safe_files.read_text(os.path.join(quarantine_dir, entry, RECORD_NAME)))
        except (AigovError, OSError, ValueError):
            continue
        if record.get('original_path') == path:
            return record
    return None


def _write_record(slot, record):
    text = json.dumps(record, indent=2, sort_keys=True) + '\n'
    safe_files.replace_file(os.path.join(slot, RECORD_NAME), text.encode('utf-8'), 0o600, 0, 0)


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
        with safe_files.opened(path, 'quarantine', follow=False) as (fd, info, location, acting):
            digest = safe_files.sha256_fd(fd)
            if expected_sha256 and digest != expected_sha256:
                raise AigovError('refusing to quarantine %s: its sha256 is %s, not %s as scanned; re-run the scan'
                                 % (path, digest, expected_sha256))
            changed, result = _plan(path, quarantine_dir, info, digest, rule_ids, finding_ids, now, original_path)
            if check_mode:
                return changed, result
            slot = os.path.dirname(result['quarantined_as'])
            safe_files.ensure_dir(quarantine_dir, 0o700, 0, 0, parents=True)
            safe_files.ensure_dir(slot, 0o700, 0, 0)
            _write_record(slot, result['record'])  # first, so a crash mid-move still says where the file came from
            safe_files.move_opened(fd, location, acting, result['quarantined_as'], 0o600, digest)
    except FileNotFoundError as exc:
        if exc.filename != path:
            raise AigovError('cannot quarantine %s: %s does not exist' % (path, exc.filename))
        record = find_record(quarantine_dir, path)
        state = 'already_quarantined' if record else 'absent'
        return False, {'path': path, 'state': state, 'quarantined_as': record and record['quarantined_as'], 'record': record}
    except OSError as exc:
        raise AigovError('cannot quarantine %s: %s' % (path, exc.strerror or exc))
    return changed, result


def _plan(path, quarantine_dir, info, digest, rule_ids, finding_ids, now, original_path):
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
    return True, {'path': path, 'state': 'quarantined', 'quarantined_as': dest, 'record': record}
