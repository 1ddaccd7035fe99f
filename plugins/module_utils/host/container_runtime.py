# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which container a process runs in (its cgroup), and asking that container's runtime about it.

The runtime is asked through its own CLI (podman, docker, crictl), run from an
absolute path that only root can change (host/trusted_binary.py: the file and
every directory above it owned by root and writable by no one else): never from PATH,
never from a path a user controls. Every call is read-only (inspect), has a
timeout, and its failure is returned as a problem, never raised: a host whose
runtime cannot be asked is still discovered, without container details.
The actions (restart, stop, run) live in remediation/container_target.py and use
the same binary lookup.
"""

from __future__ import annotations

import os
import re
import subprocess

from ansible_collections.aigov.core.plugins.module_utils.common import bounded_json
from ansible_collections.aigov.core.plugins.module_utils.host import trusted_binary as trusted_binary_rule

TIMEOUT = 10
MAX_OUTPUT = 16 * 1024 * 1024
# The CLI each runtime is asked through, and where a package manager installs it.
BINARIES = {
    'podman': ('/usr/bin/podman', '/usr/local/bin/podman', '/bin/podman'),
    'docker': ('/usr/bin/docker', '/usr/local/bin/docker', '/bin/docker'),
    'containerd': ('/usr/bin/crictl', '/usr/local/bin/crictl'),
    'cri-o': ('/usr/bin/crictl', '/usr/local/bin/crictl'),
}
# cgroup path segments naming a container: systemd scopes (libpod-ID.scope, docker-ID.scope,
# cri-containerd-ID.scope, crio-ID.scope), podman's cgroupfs (libpod_parent/libpod-ID), docker's
# cgroupfs (/docker/ID), and kubelet's cgroupfs (kubepods/.../ID, containerd unless marked).
_SEGMENT = re.compile(r'^(?P<prefix>libpod-(?:payload-)?|docker-|cri-containerd-|crio-)?(?P<id>[0-9a-f]{64})(?:\.scope)?$')
_PREFIX_RUNTIME = {'libpod-': 'podman', 'libpod-payload-': 'podman', 'docker-': 'docker',
                   'cri-containerd-': 'containerd', 'crio-': 'cri-o'}


def container_of_cgroup(cgroup):
    """(runtime, container id, rootless) from /proc/<pid>/cgroup text, or None when the process is in no container.

    The deepest segment that is a container id wins (a container's own processes sit below its
    scope). conmon (libpod-conmon-ID) is podman's monitor, not the container. rootless is True when
    the container lives under a user's systemd (user.slice/user@UID.service): its runtime state is
    that user's, not root's.
    """
    for line in cgroup.splitlines():
        parts = line.split(':', 2)
        if len(parts) != 3 or (parts[1] not in ('', 'name=systemd')):
            continue
        segments = parts[2].strip('/').split('/')
        for segment in reversed(segments):
            found = _SEGMENT.match(segment)
            if found is None:
                continue
            prefix = found.group('prefix')
            if prefix:
                runtime = _PREFIX_RUNTIME[prefix]
            elif 'docker' in segments:
                runtime = 'docker'
            elif any(part.startswith('kubepods') for part in segments):
                runtime = 'containerd'
            else:
                continue
            rootless = any(part.startswith('user@') for part in segments)
            return runtime, found.group('id'), rootless
    return None


def container_of_pid(proc_root, pid):
    """(runtime, id, rootless) of the container PID runs in, or None: in none, unreadable, or in the container
    this module itself runs in (discovery run inside a container: that container is this host as far as the
    module can see, not a container on it)."""
    found = read_container(proc_root, pid)
    if found is None:
        return None
    own = read_container(proc_root, 'self')
    return None if own is not None and own[1] == found[1] else found


def read_container(proc_root, pid):
    """container_of_cgroup() of /proc/<pid>/cgroup (pid may be 'self'), or None when unreadable."""
    try:
        with open(os.path.join(proc_root, str(pid), 'cgroup')) as handle:
            return container_of_cgroup(handle.read())
    except (IOError, OSError):
        return None


def trusted_binary(runtime, candidates=None):
    """(path, None) of the runtime's CLI when one is installed where only root can change it, else (None, why)."""
    candidates = BINARIES.get(runtime, ()) if candidates is None else candidates
    path, why = trusted_binary_rule.find('%s CLI' % runtime, candidates)
    return path, why if path or why else 'no %s CLI in %s' % (runtime, ', '.join(candidates) or 'the known places')


def run(argv, timeout=TIMEOUT, env=None):
    """(exit code, stdout, stderr) of argv, ended after TIMEOUT seconds; OSError/TimeoutExpired are raised."""
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False, env=env)
    return proc.returncode, proc.stdout[:MAX_OUTPUT].decode('utf-8', 'replace'), proc.stderr[-2000:].decode('utf-8', 'replace')


def inspect(runtime, ids, timeout=TIMEOUT, binaries=None):
    """({id: the runtime's raw inspect record}, problems) for container IDS of RUNTIME, in one call where the CLI allows.

    Read-only; what cannot be asked is a problem naming the runtime and why.
    """
    ids = sorted(set(ids))
    if not ids:
        return {}, []
    binary, why = trusted_binary(runtime, binaries)
    if binary is None:
        return {}, ['%s containers %s: the runtime was not asked (%s)' % (runtime, _short(ids), why)]
    batches = [ids] if runtime in ('podman', 'docker') else [[one] for one in ids]  # crictl inspects one at a time
    found, problems = {}, []
    for batch in batches:
        argv = [binary, 'inspect'] + (['--type', 'container'] if runtime in ('podman', 'docker') else ['-o', 'json']) + batch
        try:
            _rc, out, err = run(argv, timeout)
        except subprocess.TimeoutExpired:
            problems.append('%s inspect of %s: no answer within %ds' % (runtime, _short(batch), timeout))
            continue
        except OSError as exc:
            problems.append('%s inspect of %s: cannot run %s (%s)' % (runtime, _short(batch), binary, exc.strerror))
            continue
        try:
            records = bounded_json.loads(out) if out.strip() else []
        except ValueError:
            records = None
        records = records if isinstance(records, list) else [records] if isinstance(records, dict) else None
        if records is None:
            problems.append('%s inspect of %s: unreadable answer' % (runtime, _short(batch)))
            continue
        for record in records:
            full = _record_id(record)
            if full in batch:
                found[full] = record
        missing = [one for one in batch if one not in found]
        if missing:
            problems.append('%s does not know container %s (%s)' % (
                runtime, _short(missing), (err.strip().splitlines() or ['no record'])[-1][:200]))
    return found, problems


def _record_id(record):
    if not isinstance(record, dict):
        return None
    status = record.get('status') if isinstance(record.get('status'), dict) else {}
    return record.get('Id') or status.get('id')


def _short(ids):
    return ', '.join(one[:12] for one in ids)
