# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Does the model on disk match the manifest a signature lists? Files are read once.

The walk never follows a link (model-signing refuses links unless the signer allowed them,
and a root process must not follow a link a user planted); each file's sha256 comes from
the caller's `digest_of(path, lstat)`, which is the host's hash cache: a file discovery
already hashed is not read again. Shard manifests are hashed range by range (no cache).
"""

from __future__ import annotations

import hashlib
import os
import stat as stat_module
import time

from ansible_collections.aigov.core.plugins.module_utils.host.safe_files import CHUNK, open_regular

MAX_FILES = 100000
GIT_PATHS = ('.git', '.gitattributes', '.github', '.gitignore')  # model-signing always ignores these
NOT_CHECKED = object()


class Unchecked(Exception):
    """What could not be checked (the hash budget ran out, a file could not be read): a problem, not a verdict."""


def _ignored(relative, ignore):
    return any(relative == path or relative.startswith(path.rstrip('/') + '/') for path in ignore)


def walk(model_dir, ignore):
    """({relative path: lstat} of the regular files, [relative paths of links], [other entries])."""
    files, links, others, pending = {}, [], [], ['']
    while pending:
        relative_dir = pending.pop()
        try:
            entries = sorted(os.scandir(os.path.join(model_dir, relative_dir)), key=lambda entry: entry.name)
        except OSError as exc:
            raise Unchecked('cannot list %s (%s)' % (os.path.join(model_dir, relative_dir), exc.strerror))
        for entry in entries:
            relative = entry.name if not relative_dir else relative_dir + '/' + entry.name
            if _ignored(relative, ignore):
                continue
            info = entry.stat(follow_symlinks=False)
            if stat_module.S_ISLNK(info.st_mode):
                links.append(relative)
            elif stat_module.S_ISDIR(info.st_mode):
                pending.append(relative)
            elif stat_module.S_ISREG(info.st_mode):
                files[relative] = info
            else:
                others.append(relative)
            if len(files) + len(links) + len(others) > MAX_FILES:
                raise Unchecked('more than %d files under %s' % (MAX_FILES, model_dir))
    return files, links, others


def _shard_digests(path, size, shard_size, deadline):
    """{':start:end': sha256} of every shard of the file, read once."""
    digests = {}
    with open_regular(path, follow=False) as handle:
        for start in range(0, size, shard_size):  # an empty file has no shard, as in model-signing
            end = min(start + shard_size, size)
            digest, left = hashlib.sha256(), end - start
            while left > 0:
                if time.monotonic() > deadline:
                    raise Unchecked('hash_budget ran out while hashing %s' % path)
                chunk = handle.read(min(CHUNK, left))
                if not chunk:
                    break
                digest.update(chunk)
                left -= len(chunk)
            digests[':%d:%d' % (start, end)] = digest.hexdigest()
    return digests


def _actual(model_path, scope, manifest, ignore, digest_of, deadline):
    """({resource name: sha256} of what is on disk, [links found])."""
    if scope == 'file':
        files, links = {'.': os.lstat(model_path)}, []
        paths = {'.': model_path}
    else:
        files, links, others = walk(model_path, ignore)
        paths = dict((name, os.path.join(model_path, name)) for name in files)
        files.update((name, None) for name in others)  # not a regular file: never in a manifest, always "added"
    actual = {}
    for name, info in sorted(files.items()):
        if info is None:
            actual[name] = NOT_CHECKED
        elif manifest['method'] == 'shards':
            for suffix, digest in _shard_digests(paths[name], info.st_size, manifest['shard_size'], deadline).items():
                actual[name + suffix] = digest
        else:
            actual[name] = digest_of(paths[name], info)
    return actual, links


def compare(model_path, scope, manifest, signature_path, digest_of, deadline):
    """(reasons, details): the codes and sentences of every difference; [] when the model matches.

    Raises Unchecked when the comparison could not finish (budget, unreadable file).
    """
    ignore = list(GIT_PATHS) + [path for path in manifest['ignore_paths'] if not path.startswith('/')]
    if scope == 'directory':
        ignore.append(os.path.relpath(signature_path, model_path))
    try:
        actual, links = _actual(model_path, scope, manifest, ignore, digest_of, deadline)
    except (IOError, OSError) as exc:
        raise Unchecked('cannot read %s (%s)' % (getattr(exc, 'filename', None) or model_path, exc.strerror or exc))
    expected = manifest['resources']
    reasons, details = [], []

    def add(reason, detail):
        if reason not in reasons:
            reasons.append(reason)
        details.append(detail)

    if scope == 'file' and set(expected) != {'.'}:
        add('malformed', 'a signature beside a file must list that one file, it lists %d' % len(expected))
        return reasons, details
    if links and manifest['allow_symlinks']:
        raise Unchecked('the signature allows links, and links (%s) are not followed on the host' % ', '.join(links[:5]))
    for link in links:
        add('symlink', 'link %s in the model: the signature does not allow links' % link)
    for name in sorted(set(actual) - set(expected)):
        if manifest['method'] == 'shards' and name.rsplit(':', 2)[0] in set(key.rsplit(':', 2)[0] for key in expected):
            add('file_changed', 'file changed: %s (its size differs from the signed one)' % name.rsplit(':', 2)[0])
        else:
            add('file_added', 'file added after signing: %s' % name)
    for name in sorted(set(expected) - set(actual)):
        add('file_missing', 'file missing: %s' % name)
    for name in sorted(set(expected) & set(actual)):
        if actual[name] is None:
            raise Unchecked('hash_budget ran out before %s was hashed' % name)
        if actual[name] != expected[name][1]:
            add('file_changed', 'file changed after signing: %s' % (os.path.basename(model_path) if name == '.' else name))
    return reasons, details
