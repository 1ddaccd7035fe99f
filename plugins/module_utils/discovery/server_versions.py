# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The version of a server process, read without running anything.

A Python server's version is the one of the distribution it imports, found in
the site-packages of the Python environment the process runs from (its
interpreter's prefix, a virtualenv's pyvenv.cfg, PYTHONPATH). A binary's
version comes only from a variable its image sets for that purpose. Paths are
read through /proc/<pid>/root when the process has a root of its own (a
container), so what is read is what the process sees.
"""

from __future__ import annotations

import glob
import os
import re

from ansible_collections.aigov.core.plugins.module_utils.discovery.package_discovery import distributions
from ansible_collections.aigov.core.plugins.module_utils.host.safe_files import read_capped

_PYTHON = re.compile(r'^python(?P<version>[0-9]+\.[0-9]+)?')
_VERSION = re.compile(r'^v?(?P<version>[0-9]+(?:\.[0-9A-Za-z+-]+)*)$')


def clean_version(text):
    """A version string as reported, or None when it does not look like one (never free text)."""
    text = (text or '').strip()
    found = _VERSION.match(text) if len(text) <= 64 else None
    return found.group('version') if found else None


def process_root(proc_root, pid):
    """Prefix under which a process's files are read: '' when it shares this root, else /proc/<pid>/root.

    Raises OSError when the process's root cannot be looked at (another user's process).
    """
    path = os.path.join(proc_root, str(pid), 'root')
    mine, theirs = os.stat('/'), os.stat(path)
    return '' if (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino) else path


def _bin_dirs(root, process, env_values):
    """Directories (as the process sees them) its interpreter may live in, the likeliest first."""
    argv0 = process.argv[0]
    dirs = []
    if argv0.startswith('/'):
        dirs.append(os.path.dirname(argv0))
    elif '/' not in argv0:  # resolved through PATH: the first entry holding it is the one that ran
        dirs.extend([entry for entry in env_values.get('PATH', '').split(':')
                     if entry.startswith('/') and os.path.exists(root + os.path.join(entry, argv0))][:1])
    if env_values.get('VIRTUAL_ENV', '').startswith('/'):
        dirs.append(os.path.join(env_values['VIRTUAL_ENV'], 'bin'))
    # `python3 /opt/venv/bin/vllm serve`: the entry script sits in its environment's bin.
    dirs.extend(os.path.dirname(token) for token in process.argv[1:3] if token.startswith('/'))
    if process.exe:
        dirs.append(os.path.dirname(process.exe))  # symlinks resolved: the base interpreter of a venv
    return dirs


def _python_pattern(process):
    found = _PYTHON.match(os.path.basename(process.exe or '')) or _PYTHON.match(os.path.basename(process.argv[0]))
    return 'python%s' % found.group('version') if found and found.group('version') else 'python3*'


def parse_venv_cfg(data):
    """The settings of a pyvenv.cfg's bytes."""
    return dict((key.strip().lower(), value.strip()) for key, sep, value in
                (line.partition('=') for line in data.decode('utf-8', 'replace').splitlines()) if sep)


def _venv_cfg(root, prefix):
    """The pyvenv.cfg settings of prefix, or None when it is not a virtualenv (or it is no regular file)."""
    try:
        return parse_venv_cfg(read_capped(root + os.path.join(prefix, 'pyvenv.cfg'), 4096)[0])
    except (IOError, OSError):
        return None


def site_dirs(root, process, env_values):
    """site-packages directories the process imports from, in import order, as paths the process sees."""
    pattern = _python_pattern(process)
    dirs = [entry for entry in env_values.get('PYTHONPATH', '').split(':') if entry.startswith('/')]
    prefixes = [os.path.dirname(directory.rstrip('/')) for directory in _bin_dirs(root, process, env_values)]
    if env_values.get('PYTHONHOME', '').startswith('/'):
        prefixes.insert(0, env_values['PYTHONHOME'].split(':')[0])
    for prefix in prefixes:  # grows while walked: a venv that includes its base's packages adds the base
        cfg = _venv_cfg(root, prefix)
        subdirs = ['lib/%s/site-packages' % pattern]
        if cfg is None:  # a system prefix: Debian keeps packages in dist-packages
            subdirs += ['lib/python3/dist-packages', 'lib/%s/dist-packages' % pattern, 'local/lib/%s/dist-packages' % pattern]
        elif cfg.get('include-system-site-packages', '').lower() == 'true' and cfg.get('home', '').startswith('/'):
            base = os.path.dirname(cfg['home'].rstrip('/'))
            if base not in prefixes:
                prefixes.append(base)
        for subdir in subdirs:
            for path in sorted(glob.glob(root + os.path.join(prefix, subdir))):
                seen = path[len(root):]
                if seen not in dirs:
                    dirs.append(seen)
    return dirs


def package_version(root, process, env_values, packages):
    """(version, metadata path as the process sees it) of the first of packages it imports, or (None, None)."""
    wanted = frozenset(packages)
    for directory in site_dirs(root, process, env_values):
        try:
            found = next(distributions(root + directory, wanted), None)
        except OSError:
            continue  # a PYTHONPATH entry that is not a directory
        if found is not None:
            return found[1], found[2][len(root):]
    return None, None


def server_version(proc_root, process, env_values, signature):
    """Return (version, version_source, problem): version_source names where it was read.

    version_source is `package-metadata:<path>` or `env:<NAME>`; problem is a
    sentence when the process's files could not be looked at, else None.
    """
    for name in signature.version_env:
        version = clean_version(env_values.get(name))
        if version:
            return version, 'env:%s' % name, None
    if not signature.packages:
        return None, None, None
    try:
        root = process_root(proc_root, process.pid)
    except (IOError, OSError) as exc:
        return None, None, 'cannot look at the root of pid %d (%s); version unknown' % (process.pid, exc.strerror)
    version, path = package_version(root, process, env_values, signature.packages)
    return (version, 'package-metadata:%s' % path, None) if version else (None, None, None)
