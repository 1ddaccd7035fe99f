# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files on a managed host, touched as root without trusting what users control.

Root on a host where unprivileged users write files must never act through a
path such a user can change between the check and the act. So:

- A path is walked (host/_path_walk.py) from / one component at a time, each opened relative to its
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
  files are created with O_EXCL, and an existing path is never chowned. A file
  is replaced by a temp file renamed in the same directory descriptor, and
  moved only when the inode that arrives is the one that was checked.

Reading for discovery is the other half: open_regular() opens non-blocking
and refuses anything but a regular file, read_capped() never reads past a cap,
sha256_within() stops hashing at a deadline.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat as stat_module
import time

from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.host._path_walk import (
    O_PATH, UnsafePath, _describe, acting_uid, as_user, locate)

CHUNK = 1024 * 1024


def _check_leaf(fd, path, purpose):
    info = os.fstat(fd)
    if not stat_module.S_ISREG(info.st_mode):
        raise UnsafePath('refusing to %s %s: not a regular file' % (purpose, path))
    return info


def _reopen(fd, flags):
    """Open the inode behind the O_PATH descriptor FD (its /proc link names that inode, not the path)."""
    return os.open('/proc/self/fd/%d' % fd, flags | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)


@contextlib.contextmanager
def opened(path, purpose, flags=os.O_RDONLY, follow=True):
    """(fd, stat, Location, uid) of the existing regular file PATH, reached and checked safely.

    The file is first opened with O_PATH, so a FIFO or a device is never really opened; FLAGS
    (O_PATH to keep that) then opens the checked inode, as the acting user. FOLLOW: as for locate().
    """
    location = locate(path, follow)
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
        data = read_fd(fd, limit + 1)
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


def read_fd(fd, limit):
    """Up to LIMIT bytes from FD's current offset."""
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


def _fill(fd, content):
    """Write CONTENT (bytes, or a descriptor whose whole file is copied) to FD."""
    if not isinstance(content, int):
        _write_all(fd, content)
        return
    os.lseek(content, 0, os.SEEK_SET)
    for chunk in iter(lambda: os.read(content, CHUNK), b''):
        _write_all(fd, chunk)


def _create_in(location, name, content, mode, uid, gid, acting, sha256=None):
    """Create NAME (O_EXCL) in LOCATION's directory holding CONTENT, as ACTING, owned by uid/gid; return its fd.

    SHA256: the content must have this digest, read back from the new file's own descriptor.
    """
    if acting and uid not in (-1, acting):
        raise UnsafePath('refusing to create %s for %s: it lies where only %s may create files'
                         % (location.path, _describe({uid}) or 'root', _describe({acting})))
    with as_user(acting):
        fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                     dir_fd=location.dir_fd)
    try:
        if not acting and os.geteuid() == 0 and (uid, gid) != (-1, -1):
            os.fchown(fd, uid, gid)  # a file this call just created, by descriptor
        os.fchmod(fd, mode)
        _fill(fd, content)
        os.fsync(fd)
        if sha256 is not None and sha256_fd(fd) != sha256:
            raise AigovError('the copy written to %s does not have the sha256 %s; it was removed' % (location.path, sha256))
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


def replace_file(path, data, mode=None, uid=-1, gid=-1, sha256=None, keep_as=None):
    """Replace PATH's content with DATA through a temp file and a rename in its directory; return its real path.

    DATA is bytes or a descriptor to copy from. MODE, UID, GID: the new file's; None and -1 keep the
    old file's (an existing PATH must be a regular file with one link). A missing PATH is created
    only when MODE is given. SHA256: the new content must have it before it replaces anything.
    KEEP_AS: the old file is first hard-linked to this name in the same directory.
    """
    location = locate(path)
    try:
        acting = acting_uid(location, 'replace')
        leaf = location.leaf
        if leaf is None:
            if mode is None:
                raise FileNotFoundError(2, 'No such file or directory', path)
        else:
            if not stat_module.S_ISREG(leaf.st_mode) or leaf.st_nlink != 1:
                raise UnsafePath('refusing to replace %s: not a regular file with one link' % path)
            mode = stat_module.S_IMODE(leaf.st_mode) if mode is None else mode
            uid, gid = leaf.st_uid if uid == -1 else uid, leaf.st_gid if gid == -1 else gid
        temp = _temp_name(location, 'new')
        os.close(_create_in(location, temp, data, mode, uid, gid, acting, sha256))
        try:
            with as_user(acting):
                if keep_as and leaf is not None:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(keep_as, dir_fd=location.dir_fd)  # left by an interrupted run
                    os.link(location.name, keep_as, src_dir_fd=location.dir_fd, dst_dir_fd=location.dir_fd,
                            follow_symlinks=False)
                os.rename(temp, location.name, src_dir_fd=location.dir_fd, dst_dir_fd=location.dir_fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=location.dir_fd)
            raise
        return location.real
    finally:
        location.close()


def keep_copy(path, dest):
    """Keep a copy of the regular file PATH at DEST (same directory rules), with PATH's owner, group and mode.

    The copy is filled under a temp name created O_EXCL, from PATH's checked descriptor, then linked to
    DEST, which fails rather than replace an existing DEST: an older copy is never overwritten.
    True when the copy was made; False when DEST already existed (nothing changed).
    """
    with opened(path, 'keep a copy of') as (fd, info, _location, _uid):
        target = locate(dest, follow=False)
        try:
            acting = acting_uid(target, 'create')
            if target.leaf is not None:
                return False
            uid, gid = (-1, -1) if acting else (info.st_uid, info.st_gid)
            temp = _temp_name(target, 'keep')
            os.close(_create_in(target, temp, fd, stat_module.S_IMODE(info.st_mode), uid, gid, acting))
            try:
                with as_user(acting):
                    os.link(temp, target.name, src_dir_fd=target.dir_fd, dst_dir_fd=target.dir_fd, follow_symlinks=False)
            except FileExistsError:
                return False
            finally:
                with as_user(acting), contextlib.suppress(OSError):
                    os.unlink(temp, dir_fd=target.dir_fd)
            return True
        finally:
            target.close()


def remove_file(path, check_mode=False):
    """Remove the regular file PATH (never through a symlink, as the user who controls it); True when it existed."""
    location = locate(path, follow=False)
    try:
        if location.leaf is None:
            return False
        acting = acting_uid(location, 'remove')
        if not stat_module.S_ISREG(location.leaf.st_mode):
            raise UnsafePath('refusing to remove %s: not a regular file' % path)
        if not check_mode:
            with as_user(acting):
                os.unlink(location.name, dir_fd=location.dir_fd)
        return True
    finally:
        location.close()


def ensure_file(path, data, mode, uid=-1, gid=-1, check_mode=False):
    """Make PATH a regular file holding DATA (bytes) with MODE and owner; True when it changed (or would)."""
    try:
        with opened(path, 'write') as (fd, info, _location, _uid):
            same = (read_fd(fd, len(data) + 1) == data and stat_module.S_IMODE(info.st_mode) == mode
                    and uid in (-1, info.st_uid) and gid in (-1, info.st_gid))
    except FileNotFoundError:
        same = False
    if not same and not check_mode:
        replace_file(path, data, mode, uid, gid)
    return not same


def _same_inode(a, b):
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def move_opened(fd, location, acting, dest, mode=0o600, sha256=None):
    """Move the file open as FD (from opened(): its Location and acting uid) to DEST, new in a root-only directory.

    rename() moves whatever the name holds by then, so the inode that arrives must be the one open
    as FD (the one the caller checked and hashed); anything else is put back and nothing is moved.
    Across filesystems FD's content is copied (O_EXCL; it must have SHA256 when given) and the name
    removed only while it holds FD's file.
    """
    info = os.fstat(fd)
    target = locate(dest)
    try:
        if target.controllers:
            raise UnsafePath('refusing to move %s into %s: %s can change that directory'
                             % (location.path, dest, _describe(target.controllers)))
        if target.leaf is not None:
            raise FileExistsError(errno.EEXIST, 'File exists', dest)
        try:
            os.rename(location.name, target.name, src_dir_fd=location.dir_fd, dst_dir_fd=target.dir_fd)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            os.close(_create_in(target, target.name, fd, mode, info.st_uid, info.st_gid, 0, sha256))
            with as_user(acting):
                if _same_inode(os.stat(location.name, dir_fd=location.dir_fd, follow_symlinks=False), info):
                    os.unlink(location.name, dir_fd=location.dir_fd)
            return
        if not _same_inode(os.stat(target.name, dir_fd=target.dir_fd, follow_symlinks=False), info):
            os.rename(target.name, location.name, src_dir_fd=target.dir_fd, dst_dir_fd=location.dir_fd)
            raise UnsafePath('refusing to move %s: it was replaced while it was being checked; put back, nothing moved'
                             % location.path)
        os.fchmod(fd, mode)
    finally:
        target.close()


def ensure_dir(path, mode=0o700, uid=-1, gid=-1, parents=False):
    """Make PATH a directory (mode, owner) if missing; an existing one must already be safe. True if made.

    PARENTS: missing parents are made too (mode 0755, owned by root).
    """
    try:
        location = locate(path)
    except FileNotFoundError:
        if not parents:
            raise
        ensure_dir(os.path.dirname(path), 0o755, parents=True)
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


def _open_leaf(path, flags, follow, mode=0o600):
    """os.open() of PATH, O_NOFOLLOW unless FOLLOW; OSError with a clear message for a symlink or a non-regular file."""
    try:
        fd = os.open(path, flags | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW), mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow:
            raise OSError(errno.ELOOP, 'a symlink (not followed)', path)
        raise
    if not stat_module.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, 'not a regular file', path)
    return fd


def open_regular(path, follow=True):
    """A binary file object for the regular file PATH, opened without blocking; OSError otherwise.

    For discovery: a FIFO, socket or device where a file is expected is never opened for
    reading (it could block or have side effects), only looked at through O_PATH.
    """
    handle = _open_leaf(path, O_PATH | os.O_NONBLOCK, follow)
    if O_PATH == os.O_RDONLY:  # no O_PATH (not Linux): HANDLE is already a read-only descriptor
        return os.fdopen(handle, 'rb')
    try:
        fd = _reopen(handle, os.O_RDONLY)
    finally:
        os.close(handle)
    return os.fdopen(fd, 'rb')


def open_append(path, mode=0o640):
    """A descriptor (O_RDWR | O_APPEND, created with MODE if missing) of the regular file PATH, never through a
    symlink as its last component and without blocking on a FIFO; OSError otherwise. For logs."""
    return _open_leaf(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NONBLOCK, False, mode)


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
