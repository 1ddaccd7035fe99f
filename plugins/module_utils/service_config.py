# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Find where a running server is configured, and edit that configuration.

Discovery reports a server's pids and command line, not its service
definition. locate() finds it, in this order:
  1. an explicit entry in the caller's `services` mapping, keyed by the asset
     id or name: {env_file | files, restart_command, stop_command};
  2. systemd: the unit named in /proc/<pid>/cgroup, its unit file and drop-ins
     and their EnvironmentFile= files. Only files under /etc and /run are
     edited (a vendor unit in /usr/lib is listed in `unedited`: override it
     with a drop-in), the restart is `systemctl daemon-reload` then
     `systemctl restart <unit>`, the stop `systemctl stop <unit>`.
The edits are text substitutions (FIXES) applied to every located file, so
the same server configured by a flag in ExecStart or a variable in an env
file is fixed either way; a file the edit does not match is left untouched.
"""

from __future__ import annotations

import os
import re
import shlex

from ansible_collections.aigov.core.plugins.module_utils import safe_files
from ansible_collections.aigov.core.plugins.module_utils.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.redaction import redact_text

UNIT_DIRS = ('/etc/systemd/system', '/run/systemd/system', '/usr/local/lib/systemd/system', '/lib/systemd/system',
             '/usr/lib/systemd/system')
EDITABLE = ('/etc/', '/run/')
_ANY = r'(?:0\.0\.0\.0|\[::\]|::|\*)'
# --host 0.0.0.0, --host=0.0.0.0, --bind ::, OLLAMA_HOST=0.0.0.0:11434, HOST="0.0.0.0", QDRANT__SERVICE__HOST=0.0.0.0
_REBIND = re.compile(r'''((?:--(?:host|bind|listen|address|ip|http-host|bind-address)[ =]["']?)'''
                     r'''|(?:\b[A-Z][A-Z0-9_]*(?:HOST|BIND|ADDR|ADDRESS|LISTEN)=["']?))''' + _ANY + r'(?=[\s"\':]|$)', re.M)


def rebind_loopback(text, _server=None):
    """TEXT with every wildcard bind address in a host flag or variable replaced by 127.0.0.1."""
    return _REBIND.sub(r'\g<1>127.0.0.1', text)


def disable_dev_mode(text, server):
    """TEXT without the server's dev-mode variables (env-file lines or unit Environment= assignments)."""
    for name in server.get('dev_mode') or ():
        if not re.match(r'^[A-Za-z_][A-Za-z0-9_]*$', name):
            raise AigovError('dev mode switch %r is not a variable name' % name)
        # a whole env-file line
        text = re.sub(r'(?m)^[ \t]*(?:export[ \t]+)?%s[ \t]*=.*(?:\n|$)' % name, '', text)
        # one assignment on a systemd Environment= line, quoted or not
        text = re.sub(r'''(?m)^(Environment=.*?)[ \t]*(?:"%s=[^"]*"|'%s=[^']*'|%s=\S*)''' % (name, name, name), r'\1', text)
        text = re.sub(r'(?m)^Environment=[ \t]*(?:\n|$)', '', text)
    return text


FIXES = {'bind_loopback': rebind_loopback, 'disable_dev_mode': disable_dev_mode}
# Which server a module acts on (docs: the aigov.core.service_target doc fragment); at least one of
# asset_id, name and pids is required (SERVER_REQUIRED_ONE_OF).
SERVER_ARGSPEC = dict(
    asset_id=dict(type='str'),
    name=dict(type='str'),
    pids=dict(type='list', elements='int'),
    services=dict(type='dict', default={}),
    proc_root=dict(type='path', default='/proc'),
)
SERVER_REQUIRED_ONE_OF = [('asset_id', 'name', 'pids')]


def _unit_of(proc_root, pids):
    for pid in pids:
        try:
            with open(os.path.join(proc_root, str(pid), 'cgroup')) as handle:
                lines = handle.read().splitlines()
        except (IOError, OSError):
            continue
        for line in lines:
            for part in reversed(line.rsplit(':', 1)[-1].split('/')):
                if part.endswith('.service'):
                    return part
    return None


def _unit_files(unit, unit_dirs):
    fragment = next((os.path.join(d, unit) for d in unit_dirs if os.path.isfile(os.path.join(d, unit))), None)
    dropins = []
    for directory in unit_dirs:
        folder = os.path.join(directory, unit + '.d')
        if os.path.isdir(folder):
            dropins.extend(os.path.join(folder, name) for name in sorted(os.listdir(folder)) if name.endswith('.conf'))
    return fragment, dropins


def _environment_files(paths):
    found = []
    for path in paths:
        with open(path) as handle:
            for line in handle:
                if line.strip().startswith('EnvironmentFile='):
                    for item in shlex.split(line.strip().split('=', 1)[1]):
                        item = item.lstrip('-')
                        if item and item not in found:
                            found.append(item)
    return found


def _explicit(server, services):
    for key in (server.get('asset_id'), server.get('name')):
        if key and key in (services or {}):
            entry = services[key]
            if not isinstance(entry, dict):
                raise AigovError('services[%r] must be a mapping with env_file or files, and restart_command' % key)
            unknown = sorted(set(entry) - {'env_file', 'files', 'restart_command', 'stop_command'})
            files = list(entry.get('files') or []) + ([entry['env_file']] if entry.get('env_file') else [])
            if unknown or not files or not all(isinstance(f, str) and os.path.isabs(f) for f in files):
                raise AigovError('services[%r] needs env_file or files (absolute paths), optional restart_command and '
                                 'stop_command%s' % (key, '; unknown keys: %s' % ', '.join(unknown) if unknown else ''))
            restart, stop = entry.get('restart_command'), entry.get('stop_command')
            return {'source': 'services', 'key': key, 'unit': None, 'files': files, 'unedited': [],
                    'restart_commands': [shlex.split(restart)] if restart else [],
                    'stop_commands': [shlex.split(stop)] if stop else []}
    return None


def locate(server, services=None, proc_root='/proc', unit_dirs=UNIT_DIRS, editable=EDITABLE):
    """Where SERVER (a baseline target: asset_id, name, pids) is configured; source 'none' when unknown."""
    found = _explicit(server, services)
    if found:
        return found
    unit = _unit_of(proc_root, server.get('pids') or ())
    if unit:
        fragment, dropins = _unit_files(unit, unit_dirs)
        if fragment:
            candidates = [fragment] + dropins
            candidates += [path for path in _environment_files(candidates) if path not in candidates]
            files = [p for p in candidates if p.startswith(tuple(editable)) or p not in [fragment] + dropins]
            return {'source': 'systemd', 'key': unit, 'unit': unit, 'files': files,
                    'unedited': [p for p in candidates if p not in files],
                    'restart_commands': [['systemctl', 'daemon-reload'], ['systemctl', 'restart', unit]],
                    'stop_commands': [['systemctl', 'stop', unit]]}
    return {'source': 'none', 'key': None, 'unit': unit, 'files': [], 'unedited': [], 'restart_commands': [],
            'stop_commands': []}


def apply_fix(fix, server, location, check_mode=False):
    """Apply FIXES[fix] to every located file; return (changed files, diffs)."""
    if fix not in FIXES:
        raise AigovError('fix must be one of %s, got %r' % (', '.join(sorted(FIXES)), fix))
    changed, diffs = [], []
    for path in location['files']:
        try:
            before = safe_files.read_text(path)
        except FileNotFoundError:
            continue  # an optional EnvironmentFile=- that is absent
        except (IOError, OSError) as exc:
            raise AigovError('cannot read %s: %s' % (path, exc.strerror))
        after = FIXES[fix](before, server)
        if after == before:
            continue
        changed.append(path)
        # Service env files often hold an API key next to the bind address.
        diffs.append({'before': redact_text(before), 'after': redact_text(after), 'before_header': path, 'after_header': path})
        if not check_mode:
            try:
                safe_files.replace_file(path, after.encode('utf-8', 'surrogateescape'))
            except (IOError, OSError) as exc:
                raise AigovError('cannot write %s: %s' % (path, exc.strerror))
    return changed, diffs
