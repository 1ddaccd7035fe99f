# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An agent's secret-bearing environment file on its host, and the copy of its previous content kept next to it.

Plain Python behind aigov.core.agent_secret_file, over host/safe_files (the one
layer through which root touches a host's files). The kept copy is what makes a
rollback independent of the secret backend: before a new value replaces the
file, the old content is kept at `previous` (same owner, group and mode,
created O_EXCL, never overwritten: an older copy is the last value known to
work). A rollback puts it back; it is removed once a new value is verified and
the backend agrees (`committed`). A kept copy equal to the file means an agent
rolled back while the backend could not be restored: the next run writes the
agent's value back to the backend (the role's `repaired`).

Values leave this module only as `value`/`previous_value` of the result when
asked (`return_value`); everything else carries fingerprints.
"""

from __future__ import annotations

from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.common.fingerprints import DEFAULT_FINGERPRINT_KEY, fingerprint
from ansible_collections.aigov.core.plugins.module_utils.host import safe_files

STATES = ('present', 'restored', 'committed')
PREVIOUS_SUFFIX = '.aigov-previous'


class AgentSecretFileError(AigovError):
    """The agent's file or its kept copy could not be read or written; the message says which."""


def previous_path(path, previous=None):
    return previous or path + PREVIOUS_SUFFIX


def env_value(data, env_var):
    """The value of ENV_VAR in the NAME=value lines of DATA (bytes or None); None when absent."""
    if data is None or not env_var:
        return None
    for line in data.decode('utf-8', 'surrogateescape').splitlines():
        name, sep, value = line.partition('=')
        if sep and name == env_var:
            return value
    return None


def _read(path):
    try:
        return safe_files.read_text(path, 'read').encode('utf-8', 'surrogateescape')
    except FileNotFoundError:
        return None


def _describe(current, kept, env_var, key, return_value):
    """What the controller may know: existence, whether file and copy agree, fingerprints (values only when asked)."""
    value, previous = env_value(current, env_var), env_value(kept, env_var)
    result = dict(exists=current is not None, previous_exists=kept is not None,
                  on_previous=kept is not None and current == kept,
                  fingerprint=fingerprint(value, key) if value is not None else None,
                  previous_fingerprint=fingerprint(previous, key) if previous is not None else None)
    if return_value:
        result.update(value=value, previous_value=previous)
    return result


def ensure(path, state='present', data=None, mode=0o600, uid=-1, gid=-1, previous=None, keep_previous=False,
           env_var=None, return_value=False, fingerprint_key=None, check_mode=False):
    """Bring the agent's file (and its kept copy) to STATE; return (changed, result).

    present: PATH holds DATA with MODE and owner; with KEEP_PREVIOUS its old content is first kept
      at PREVIOUS (unless a copy is there already).
    restored: PATH holds the kept copy's content, owner, group and mode; the copy stays (until committed).
    committed: the kept copy is removed.
    """
    if state not in STATES + ('info',):  # info(): agent_secret_file_info
        raise AgentSecretFileError('state must be one of %s, not %r' % (', '.join(STATES), state))
    previous = previous_path(path, previous)
    if previous == path:
        raise AgentSecretFileError('previous must name another file than path (%s)' % path)
    key = fingerprint_key or DEFAULT_FINGERPRINT_KEY
    try:
        current, kept = _read(path), _read(previous)
        changed, kept_now = False, False
        if state == 'present':
            changed = safe_files.ensure_file(path, data, mode, uid, gid, check_mode=True)
            if changed and keep_previous and current is not None and kept is None:
                kept_now = True
                if not check_mode:
                    kept_now = safe_files.keep_copy(path, previous)
                kept = current if kept_now else _read(previous)
            if changed and not check_mode:
                safe_files.ensure_file(path, data, mode, uid, gid)
            current = data if changed else current
        elif state == 'restored' and kept is not None:
            with safe_files.opened(previous, 'restore from') as (fd, kept_stat, _location, _uid):
                same_owner = current is not None and _same_attributes(path, kept_stat)
                changed = current != kept or not same_owner
                if changed and not check_mode:
                    safe_files.replace_file(path, fd, kept_stat.st_mode & 0o7777, kept_stat.st_uid, kept_stat.st_gid)
            current = kept
        elif state == 'committed' and kept is not None:
            changed = safe_files.remove_file(previous, check_mode)
            kept = None
    except OSError as exc:
        raise AgentSecretFileError('cannot %s %s: %s' % ('read' if state == 'info' else 'write', path, exc.strerror or exc))
    result = _describe(current, kept, env_var, key, return_value)
    result.update(path=path, previous=previous, previous_kept=kept_now)
    return changed, result


def _same_attributes(path, kept_info):
    def attributes(stat):
        return stat.st_uid, stat.st_gid, stat.st_mode & 0o7777
    with safe_files.opened(path, 'read') as (_fd, found, _location, _uid):
        return attributes(found) == attributes(kept_info)


def info(path, previous=None, env_var=None, fingerprint_key=None):
    """What ensure() would start from: the file and its kept copy, by fingerprint; changes nothing."""
    return ensure(path, 'info', previous=previous, env_var=env_var, fingerprint_key=fingerprint_key)[1]
