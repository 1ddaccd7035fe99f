# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""FOR INTERNAL COLLECTION USE ONLY: the walk behind safe_files (use safe_files, which re-exports these).

A path is walked from / one component at a time with O_NOFOLLOW relative to
its parent's descriptor, noting who besides root can change each directory;
acting_uid() says whether root may act there and as whom.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import stat as stat_module

from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError

ANYONE = -1
MAX_LINKS = 40
# O_PATH is Linux's; elsewhere a plain read-only open does the same job for directories.
O_PATH = getattr(os, 'O_PATH', os.O_RDONLY)
_DIR = O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafePath(AigovError):
    """Root would act through something a non-root user controls; nothing was done."""


class Location(object):
    """An open parent directory, the leaf's name in it, and who besides root can change the path.

    real is the path with the (safe) symlinks on the way resolved.
    """

    def __init__(self, path, dir_fd, name, controllers, leaf, real):
        self.path, self.dir_fd, self.name, self.controllers, self.leaf = path, dir_fd, name, controllers, leaf
        self.real = real

    def close(self):
        os.close(self.dir_fd)


def _who_controls(info, entry_owner):
    """Who besides root can replace what lies in the directory INFO describes."""
    who = set()
    if info.st_uid != 0:
        who.add(info.st_uid)
    others_write = info.st_mode & 0o002 or (info.st_mode & 0o020 and info.st_gid != 0)
    if others_write:
        if info.st_mode & stat_module.S_ISVTX:
            if entry_owner not in (None, 0):
                who.add(entry_owner)  # only the entry's owner may rename or remove it
        else:
            who.add(ANYONE)
    return who


def _describe(who):
    names = []
    for uid in sorted(who):
        if uid == ANYONE:
            names.append('any user')
        else:
            try:
                names.append(pwd.getpwuid(uid).pw_name)
            except KeyError:
                names.append('uid %d' % uid)
    return ', '.join(names)


def locate(path, follow=True):
    """Walk PATH's directories safely; return a Location (close it) of its leaf, which may not exist.

    FOLLOW=False: a symlink as the leaf is not followed (it is the leaf).
    """
    if not isinstance(path, str) or not os.path.isabs(path):
        raise UnsafePath('%r is not an absolute path' % (path,))
    parts = [part for part in path.split('/') if part not in ('', '.')]
    if '..' in parts:
        raise UnsafePath('%s goes through "..": refusing it' % path)
    if not parts:
        raise UnsafePath('%s names no file' % path)
    fd = os.open('/', _DIR)
    controllers, hops, walked = set(), 0, []
    try:
        while True:
            info = os.fstat(fd)
            name = parts.pop(0)
            try:
                entry = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                entry = None
            controllers |= _who_controls(info, entry.st_uid if entry else None)
            if entry is not None and stat_module.S_ISLNK(entry.st_mode) and (parts or follow):
                hops += 1
                if controllers or entry.st_uid != 0 or hops > MAX_LINKS:
                    raise UnsafePath('%s: %s is a symlink that %s can change; refusing to follow it'
                                     % (path, name, _describe(controllers | {entry.st_uid} - {0}) or 'root'))
                target = os.readlink(name, dir_fd=fd)
                rest = [p for p in target.split('/') if p not in ('', '.')]
                if '..' in rest:
                    raise UnsafePath('%s: the symlink %s points through ".."; refusing it' % (path, name))
                if target.startswith('/'):
                    os.close(fd)
                    fd = os.open('/', _DIR)
                    walked = []
                parts = rest + parts
                continue
            if not parts:
                return Location(path, fd, name, controllers, entry, '/' + '/'.join(walked + [name]))
            if entry is None:
                raise FileNotFoundError(2, 'No such file or directory', path)
            child = os.open(name, _DIR, dir_fd=fd)
            os.close(fd)
            fd = child
            walked.append(name)
    except BaseException:
        os.close(fd)
        raise


def acting_uid(location, purpose):
    """The uid to act as at LOCATION: 0 when only root controls the path, else its single controlling user.

    The operation must then be about that user's own file: an existing leaf owned by somebody
    else (root's file in a user's directory, another user's file) is refused.
    """
    who = location.controllers
    if not who:
        return 0
    if ANYONE in who or len(who) > 1:
        raise UnsafePath('refusing to %s %s: %s can change the directories on its path'
                         % (purpose, location.path, _describe(who)))
    uid = next(iter(who))
    if location.leaf is not None and location.leaf.st_uid != uid:
        raise UnsafePath('refusing to %s %s: it belongs to %s but lies where %s can replace it'
                         % (purpose, location.path, _describe({location.leaf.st_uid}) or 'root', _describe(who)))
    return uid


@contextlib.contextmanager
def as_user(uid):
    """Run the block with UID's effective uid, gid and groups (nothing changes for uid 0)."""
    if uid == 0 or os.geteuid() != 0:
        yield
        return
    try:
        entry = pwd.getpwuid(uid)
        gid, groups = entry.pw_gid, os.getgrouplist(entry.pw_name, entry.pw_gid)
    except KeyError:
        gid, groups = uid, []
    saved_groups = os.getgroups()
    os.setgroups(groups)
    os.setegid(gid)
    os.seteuid(uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)
        os.setgroups(saved_groups)
