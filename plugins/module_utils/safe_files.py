# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files on a managed host, touched as root without trusting what users control.

Root on a host where unprivileged users write files must never act through a
path such a user can change between the check and the act. So:

- A path is walked from / one component at a time, each opened relative to its
  parent's descriptor with O_NOFOLLOW. A symlink is followed only when root owns
  it and it lies in a directory only root can change (/lib -> usr/lib); any
  other symlink, and any `..`, refuses the path.
- The walk notes who can change each directory (its owner, anyone for a
  group- or world-writable one without the sticky bit; in a sticky directory
  the owner of the entry). Root acts through a path only when nobody else can
  change it, or when the operation is about the file of the one user who can
  (their .env, their model): then it acts with that user's uid and gids, so the
  kernel allows no more than that user could do.
- Files are checked (regular, owner, one link) and changed by descriptor, new
  files are created with O_EXCL, and an existing path is never chowned.

Reading for discovery is the other half: open_regular() opens non-blocking
and refuses anything but a regular file, read_capped() never reads past a cap,
sha256_within() stops hashing at a deadline.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import stat as stat_module
import time

from ansible_collections.aigov.core.plugins.module_utils.errors import AigovError

ANYONE = -1
MAX_LINKS = 40
CHUNK = 1024 * 1024
# O_PATH is Linux's; elsewhere a plain read-only open does the same job for directories.
O_PATH = getattr(os, 'O_PATH', os.O_RDONLY)
_DIR = O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafePath(AigovError):
    """Root would act through something a non-root user controls; nothing was done."""


class Location(object):
    """An open parent directory, the leaf's name in it, and who besides root can change the path."""

    def __init__(self, path, dir_fd, name, controllers, leaf):
        self.path, self.dir_fd, self.name, self.controllers, self.leaf = path, dir_fd, name, controllers, leaf

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


def locate(path):
    """Walk PATH's directories safely; return a Location (close it) of its leaf, which may not exist."""
    if not isinstance(path, str) or not os.path.isabs(path):
        raise UnsafePath('%r is not an absolute path' % (path,))
    parts = [part for part in path.split('/') if part not in ('', '.')]
    if '..' in parts:
        raise UnsafePath('%s goes through "..": refusing it' % path)
    if not parts:
        raise UnsafePath('%s names no file' % path)
    fd = os.open('/', _DIR)
    controllers, hops = set(), 0
    try:
        while True:
            info = os.fstat(fd)
            name = parts.pop(0)
            try:
                entry = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                entry = None
            controllers |= _who_controls(info, entry.st_uid if entry else None)
            if entry is not None and stat_module.S_ISLNK(entry.st_mode):
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
                parts = rest + parts
                continue
            if not parts:
                return Location(path, fd, name, controllers, entry)
            if entry is None:
                raise FileNotFoundError(2, 'No such file or directory', path)
            child = os.open(name, _DIR, dir_fd=fd)
            os.close(fd)
            fd = child
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


def _check_leaf(fd, path, purpose):
    info = os.fstat(fd)
    if not stat_module.S_ISREG(info.st_mode):
        raise UnsafePath('refusing to %s %s: not a regular file' % (purpose, path))
    return info


def _reopen(fd, flags):
    """Open the inode behind the O_PATH descriptor FD (its /proc link names that inode, not the path)."""
    return os.open('/proc/self/fd/%d' % fd, flags | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)


@contextlib.contextmanager
def opened(path, purpose, flags=os.O_RDONLY):
    """(fd, stat, Location, uid) of the existing regular file PATH, reached and checked safely.

    The file is first opened with O_PATH, so a FIFO or a device is never really opened; FLAGS
    (O_PATH to keep that) then opens the checked inode, as the acting user.
    """
    location = locate(path)
    try:
        uid = acting_uid(location, purpose)
        if location.leaf is None:
            raise FileNotFoundError(2, 'No such file or directory', path)
        handle = os.open(location.name, O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=location.dir_fd)
        try:
            info = _check_leaf(handle, path, purpose)
            if flags == O_PATH:
                yield handle, info, location, uid
            else:
                with as_user(uid):
                    fd = _reopen(handle, flags)
                try:
                    yield fd, info, location, uid
                finally:
                    os.close(fd)
        finally:
            os.close(handle)
    finally:
        location.close()


def read_text(path, purpose='read', limit=16 * CHUNK):
    """The text of the regular file PATH, reached safely; AigovError past LIMIT bytes."""
    with opened(path, purpose) as (fd, _info, _location, _uid):
        data = _read_fd(fd, limit + 1)
    if len(data) > limit:
        raise AigovError('refusing to %s %s: larger than %d bytes' % (purpose, path, limit))
    return data.decode('utf-8', 'surrogateescape')


def chmod(path, mode, check_mode=False):
    """Set PATH's permission bits to MODE (an int, or a function of the old bits); return (changed, old, new)."""
    with opened(path, 'change the mode of', O_PATH) as (fd, info, _location, uid):
        old = stat_module.S_IMODE(info.st_mode)
        new = mode(old) if callable(mode) else mode
        if old != new and not check_mode:
            with as_user(uid):
                # An O_PATH descriptor cannot be fchmod()ed; its /proc link names the same inode, not the path.
                os.chmod('/proc/self/fd/%d' % fd, new)
        return old != new, old, new


def sha256_fd(fd):
    digest = hashlib.sha256()
    os.lseek(fd, 0, os.SEEK_SET)
    for chunk in iter(lambda: os.read(fd, CHUNK), b''):
        digest.update(chunk)
    return digest.hexdigest()


def _read_fd(fd, limit):
    chunks, size = [], 0
    while size < limit:
        chunk = os.read(fd, min(CHUNK, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b''.join(chunks)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _temp_name(location, tag):
    return '.%s.aigov-%s-%s' % (location.name, tag, os.urandom(6).hex())


def _create_in(location, name, data, mode, uid, gid, acting):
    """Create NAME (O_EXCL) in LOCATION's directory holding DATA, as ACTING, owned by uid/gid; return its fd."""
    with as_user(acting):
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                     dir_fd=location.dir_fd)
    try:
        if not acting and os.geteuid() == 0 and (uid, gid) != (-1, -1):
            os.fchown(fd, uid, gid)  # a file this call just created, by descriptor
        os.fchmod(fd, mode)
        _write_all(fd, data)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(name, dir_fd=location.dir_fd)
        raise
    return fd


def create_file(path, data, mode=0o600, uid=-1, gid=-1):
    """Create PATH holding DATA (bytes); UnsafePath/FileExistsError rather than touch an existing one."""
    location = locate(path)
    try:
        acting = acting_uid(location, 'create')
        os.close(_create_in(location, location.name, data, mode, uid, gid, acting))
    finally:
        location.close()


def replace_file(path, data, create_mode=None, uid=-1, gid=-1):
    """Replace PATH's content with DATA through a temp file and a rename in its directory.

    The new file keeps the old one's mode and owner (an existing PATH must be a regular file with
    one link); a missing PATH is created with CREATE_MODE (None: refuse) and UID/GID.
    """
    location = locate(path)
    try:
        acting = acting_uid(location, 'replace')
        if location.leaf is None:
            if create_mode is None:
                raise FileNotFoundError(2, 'No such file or directory', path)
            mode = create_mode
        else:
            if not stat_module.S_ISREG(location.leaf.st_mode) or location.leaf.st_nlink != 1:
                raise UnsafePath('refusing to replace %s: not a regular file with one link' % path)
            mode, uid, gid = stat_module.S_IMODE(location.leaf.st_mode), location.leaf.st_uid, location.leaf.st_gid
        temp = _temp_name(location, 'new')
        os.close(_create_in(location, temp, data, mode, uid, gid, acting))
        try:
            with as_user(acting):
                os.rename(temp, location.name, src_dir_fd=location.dir_fd, dst_dir_fd=location.dir_fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=location.dir_fd)
            raise
    finally:
        location.close()


def ensure_dir(path, mode=0o700, uid=-1, gid=-1):
    """Make PATH a directory (mode, owner) if missing; an existing one must already be safe. True if made."""
    location = locate(path)
    try:
        acting = acting_uid(location, 'create a directory at')
        if location.leaf is None:
            with as_user(acting):
                os.mkdir(location.name, mode, dir_fd=location.dir_fd)
            fd = os.open(location.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=location.dir_fd)
            try:
                if not acting and os.geteuid() == 0 and (uid, gid) != (-1, -1):
                    os.fchown(fd, uid, gid)
                os.fchmod(fd, mode)
            finally:
                os.close(fd)
            return True
        info = location.leaf
        if not stat_module.S_ISDIR(info.st_mode):
            raise UnsafePath('%s exists and is not a directory (symlinks are not followed)' % path)
        expected = acting if acting else (uid if uid != -1 else 0)
        if info.st_uid not in (expected, 0) or info.st_mode & 0o022:
            raise UnsafePath('%s exists but is owned by %s or writable by others; refusing to use it'
                             % (path, _describe({info.st_uid}) or 'root'))
        return False
    finally:
        location.close()


def open_regular(path, follow=True):
    """A binary file object for the regular file PATH, opened without blocking; OSError otherwise.

    For discovery: a FIFO, socket or device where a file is expected is never opened for
    reading (it could block or have side effects), only looked at through O_PATH.
    """
    nofollow = 0 if follow else os.O_NOFOLLOW
    handle = os.open(path, O_PATH | os.O_CLOEXEC | nofollow)
    try:
        if not stat_module.S_ISREG(os.fstat(handle).st_mode):
            raise OSError(0, 'not a regular file', path)
        fd = _reopen(handle, os.O_RDONLY)
    finally:
        os.close(handle)
    return os.fdopen(fd, 'rb')


def read_capped(path, limit, follow=True):
    """(up to LIMIT bytes of the regular file PATH, whether there was more)."""
    with open_regular(path, follow) as handle:
        data = handle.read(limit + 1)
    return data[:limit], len(data) > limit


def sha256_within(path, deadline, follow=True):
    """(sha256 of the regular file PATH, or None when time.monotonic() passed DEADLINE first; its fstat).

    A sparse or endless file costs no more than the time left: what is not hashed in time is None.
    """
    with open_regular(path, follow) as handle:
        info = os.fstat(handle.fileno())
        digest = hashlib.sha256()
        for chunk in iter(lambda: handle.read(CHUNK), b''):
            if time.monotonic() > deadline:
                return None, info
            digest.update(chunk)
    return digest.hexdigest(), info
