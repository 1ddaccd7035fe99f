# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The model_artifact probe: model files under configured roots, as assets.

Files are recognised by content (model_files.detect_format), hashed through
the hash cache within a time budget (a file the budget runs out on is not
hashed, however large or sparse), and pickle-based ones are scanned for
dangerous imports. What cannot be read, or breaks a parser, is a problem
naming the file, never a failure.
"""

from __future__ import annotations

import os
import pwd
import stat as stat_module
import time

from ansible_collections.aigov.core.plugins.module_utils.discovery import container_artifacts, model_files, model_signatures
from ansible_collections.aigov.core.plugins.module_utils.store.assets import make_asset
from ansible_collections.aigov.core.plugins.module_utils.host.hash_cache import HashCache
from ansible_collections.aigov.core.plugins.module_utils.host.safe_files import read_capped, sha256_within
from ansible_collections.aigov.core.plugins.module_utils.host.user_paths import in_every_home

DEFAULT_ROOTS = ('/models', '/opt/models', '/srv/models', '~/.cache/huggingface/hub', '~/.ollama/models',
                 '/usr/share/ollama/.ollama/models')
MIN_SIZE = 16


def expand_roots(roots):
    """Absolute roots that exist; `~/x` means x under every user's home directory."""
    expanded = []
    for root in roots:
        expanded.extend(path for path in in_every_home(root) if os.path.isdir(path) and path not in expanded)
    return expanded


def _owner(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def _candidate_files(roots, max_files, problems):
    """Yield (path, lstat) of regular files under roots, each file once, at most max_files."""
    seen, count = set(), 0
    for root in roots:
        for directory, _dirs, names in os.walk(root, onerror=lambda exc: problems.append(
                'model_artifact: cannot list %s (%s)' % (exc.filename, exc.strerror))):
            for name in sorted(names):
                path = os.path.join(directory, name)
                try:
                    info = os.lstat(path)
                except OSError:
                    continue  # removed while walking
                if not stat_module.S_ISREG(info.st_mode) or info.st_size < MIN_SIZE or (info.st_dev, info.st_ino) in seen:
                    continue
                seen.add((info.st_dev, info.st_ino))
                count += 1
                if count > max_files:
                    problems.append('model_artifact: stopped after %d files (max_files); raise it to see the rest' % max_files)
                    return
                yield path, info


def _artifact(path, info, fmt, digest, host, machine_id, problems):
    try:
        details, pickle_report = model_files.describe(path, fmt)
    except (IOError, OSError, ValueError) as exc:
        problems.append('model_artifact: %s looks like %s but could not be parsed (%s)' % (path, fmt, exc))
        details, pickle_report = {}, None
    attributes = {
        'path': path,
        'format': fmt,
        'size': info.st_size,
        'sha256': digest,
        'mode': '%04o' % stat_module.S_IMODE(info.st_mode),
        'uid': info.st_uid,
        'owner': _owner(info.st_uid),
        'world_writable': bool(info.st_mode & stat_module.S_IWOTH),
        'details': details,
        'pickle': pickle_report,
        'executes_code_on_load': bool(pickle_report and pickle_report['dangerous']),
    }
    evidence = [{'type': 'file', 'path': path}]
    return make_asset('model_artifact', host, machine_id, (path,), os.path.basename(path), attributes, evidence)


def _hash(path, info, cache, deadline, problems):
    """The file's digest from the cache, else hashed while the budget lasts; None when not hashed."""
    digest = cache.lookup(info)
    if digest is not None or time.monotonic() >= deadline:
        return digest
    try:
        digest, opened = sha256_within(path, deadline, follow=False)
    except (IOError, OSError) as exc:
        problems.append('model_artifact: cannot hash %s (%s)' % (path, exc.strerror))
        return None
    if digest is None:
        problems.append('model_artifact: hash_budget ran out while hashing %s (%d bytes); not hashed' % (path, opened.st_size))
    else:
        cache.store(opened, digest)
    return digest


def _one_file(path, info, cache, deadline, host, machine_id, problems):
    """The asset of one candidate file, or None when it is not a model file."""
    try:
        head = read_capped(path, 16, follow=False)[0]
    except (IOError, OSError) as exc:
        problems.append('model_artifact: cannot read %s (%s)' % (path, exc.strerror))
        return None
    fmt = model_files.detect_format(path, head)
    if fmt is None:
        return None
    return _artifact(path, info, fmt, _hash(path, info, cache, deadline, problems), host, machine_id, problems)


def discover_model_artifacts(options, host, machine_id):
    """Return (assets, problems) for the model files under options['artifact_roots']."""
    problems = []
    cache = HashCache(options.get('hash_cache'))
    if cache.problem:
        problems.append('model_artifact: ' + cache.problem)
    deadline = time.monotonic() + options.get('hash_budget', 60)
    assets = []
    roots = expand_roots(options.get('artifact_roots', DEFAULT_ROOTS))
    stores, seen_problems = container_artifacts.serving_stores(options)  # model stores mounted into serving containers
    problems.extend(seen_problems)
    roots = roots + container_artifacts.extra_roots(stores, roots)
    for path, info in _candidate_files(roots, options.get('max_files', 10000), problems):
        try:
            asset = _one_file(path, info, cache, deadline, host, machine_id, problems)
        except Exception as exc:  # one boundary per file: a file no parser foresaw is a problem, not the probe's end
            problems.append('model_artifact: skipped %s (%s)' % (path, type(exc).__name__))
            continue
        if asset is not None:
            assets.append(asset)
    container_artifacts.link(assets, stores)
    # provenance: the signature beside each model, checked with this cache and budget (model_signatures.py)
    model_signatures.annotate(assets, roots, options.get('model_signers'), cache, deadline, problems)
    pending = sum(asset['attributes']['sha256'] is None for asset in assets)
    if pending:
        problems.append('model_artifact: %d file(s) not hashed within hash_budget; the next run continues' % pending)
    if not options.get('check_mode'):
        saved = cache.save()
        if saved:
            problems.append('model_artifact: ' + saved)
    return sorted(assets, key=lambda asset: asset['id']), problems
