# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Find where a running server is configured, and edit that configuration.

Discovery reports a server's pids and command line, not its service
definition. locate() finds it, in this order:
  1. an explicit entry in the caller's `services` mapping, keyed by the asset
     id or name: {env_file | files, restart_command, stop_command};
  2. a container (container_target.py): the runtime's restart and stop of the container the server's pids
     run in (or, once it is down, the one discovery recorded), or its unit's when a unit manages it;
  3. systemd: the system unit of the server's pids (system_unit(): a cgroup
     under system.slice, never a user's unit of the same name), trusted only
     when every running pid is still the process discovery saw (start time)
     and runs as the unit's User= (root when unset); else no unit, with the
     reason. Its unit file (or template), drop-ins and their EnvironmentFile=
     files are what is edited, only under /etc and /run (a vendor unit in
     /usr/lib is listed in `unedited`: override it with a drop-in); the
     restart is `systemctl daemon-reload` then `systemctl restart <unit>`,
     the stop `systemctl stop <unit>`.
The edits are text substitutions (FIXES) applied to every located file, so
the same server configured by a flag in ExecStart or a variable in an env
file is fixed either way; a file the edit does not match is left untouched.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex

from ansible_collections.aigov.core.plugins.module_utils.host import procfs, safe_files
from ansible_collections.aigov.core.plugins.module_utils.remediation import container_target, process_stop
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.common.redaction import redact_text

UNIT_DIRS = ('/etc/systemd/system', '/run/systemd/system', '/usr/local/lib/systemd/system', '/lib/systemd/system',
             '/usr/lib/systemd/system')
EDITABLE = ('/etc/', '/run/')
UNIT_NAME = _UNIT = re.compile(r'^[A-Za-z0-9_:.\\][A-Za-z0-9_:.\\@-]*\.service$')  # systemd's unit name characters
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
    start_times=dict(type='dict', default={}),
    services=dict(type='dict', default={}),
    proc_root=dict(type='path', default='/proc'),
    container=dict(type='dict'),
)
SERVER_REQUIRED_ONE_OF = [('asset_id', 'name', 'pids')]


def server_of(params, **extra):
    """The server a module's SERVER_ARGSPEC options name, as locate() takes it."""
    return dict(extra, asset_id=params['asset_id'], name=params['name'], pids=params['pids'] or [],
                start_times=params['start_times'], container=params.get('container'))


def system_unit(cgroup):
    """(unit, None) when /proc/<pid>/cgroup text CGROUP puts the process in a system service, else (None, why).

    systemd's own hierarchy decides: its name=systemd line (cgroup v1, hybrid),
    else the unified 0:: line (v2); controller lines are ignored. Only a
    process under system.slice belongs to a system unit: the first non-slice
    below it, after nested slices (system-foo.slice/foo@1.service). A user's
    units (user.slice/.../user@1000.service/app.slice/dbus.service) share the
    names of system units but are not them.
    """
    lines = dict(parts[1:] for parts in (line.split(':', 2) for line in cgroup.splitlines()) if len(parts) == 3)
    path = lines.get('name=systemd', lines.get(''))
    if path is None:
        return None, 'has no systemd cgroup'
    parts = path.strip('/').split('/')
    if parts[0] != 'system.slice':
        return None, 'runs in cgroup %s, not under system.slice: not a system service' % path
    unit = next((part for part in parts[1:] if not part.endswith('.slice')), '')
    if not _UNIT.match(unit):
        return None, 'runs in cgroup %s, not in a .service unit under system.slice' % path
    return unit, None


def _unit_files(unit, unit_dirs):
    """The unit file of UNIT (an instance falls back to its template foo@.service) and its drop-ins, in the order
    systemd applies them (by file name; a higher directory masks a file of the same name)."""
    names = [unit] + (['%s@.service' % unit.split('@', 1)[0]] if '@' in unit else [])
    fragment = next((os.path.join(d, n) for n in names for d in unit_dirs if os.path.isfile(os.path.join(d, n))), None)
    dropins = {}
    for directory in unit_dirs:
        for name in names:
            folder = os.path.join(directory, name + '.d')
            if os.path.isdir(folder):
                for conf in sorted(os.listdir(folder)):
                    if conf.endswith('.conf'):
                        dropins.setdefault(conf, os.path.join(folder, conf))
    return fragment, [dropins[name] for name in sorted(dropins)]


def _unit_uid(paths):
    """The uid systemd runs the unit as: the last User= of its [Service] sections (root when none); None when the
    user does not resolve."""
    user = ''
    for path in paths:
        section = None
        with open(path) as handle:
            for line in handle:
                key, sep, value = line.strip().partition('=')
                if key.startswith('['):
                    section = key
                elif sep and section == '[Service]' and key.strip() == 'User':
                    user = value.strip()  # an empty User= resets it to root
    if user.isdigit() or not user:
        return int(user or 0)
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return None


def _systemd(server, proc_root, unit_dirs):
    """(unit, fragment, drop-ins, None), or (None, None, [], why) when SERVER's pids give no unit to trust.

    Each pid still running must be the process discovery saw (its start time),
    in the same system unit, and run as that unit's user.
    """
    seen = {}
    try:
        times = process_stop.start_times(server.get('start_times'))
        for pid in server.get('pids') or ():
            files = process_stop.read_files(proc_root, pid, times.get(pid), ('cgroup', 'status'))
            if files is not None:
                unit, why = system_unit(files['cgroup'])
                if why:
                    return None, None, [], 'pid %d %s' % (pid, why)
                seen[pid] = (unit, procfs.parse_uid(files['status']))
    except AigovError as exc:
        return None, None, [], str(exc)
    units = sorted(set(unit for unit, _uid in seen.values()))
    if len(units) != 1:
        return None, None, [], ('pids %s run in different units (%s)' % (sorted(seen), ', '.join(units)) if units else
                                'no services entry, and none of its pids runs to find a systemd unit by')
    fragment, dropins = _unit_files(units[0], unit_dirs)
    if not fragment:
        return None, None, [], 'no unit file of %s in %s' % (units[0], ', '.join(unit_dirs))
    want = _unit_uid([fragment] + dropins)
    wrong = sorted(pid for pid, (_unit, uid) in seen.items() if uid != want)
    if wrong:
        return None, None, [], ('pid %d runs as uid %s, and %s as %s (User=): it is not that unit\'s process' % (
            wrong[0], seen[wrong[0]][1], units[0], 'uid %d' % want if want is not None else 'a user that does not resolve'))
    return units[0], fragment, dropins, None


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


SERVICE_KEYS = ('env_file', 'files', 'restart_command', 'stop_command')
# What each remediation needs of a server's services entry: the plan checks it on the controller before the start
# (plan_problem), the modules on the host again (locate, apply_fix). 'files': env_file or files.
NEEDS = {'restart_model_server': ('restart_command',), 'rebind_loopback': ('files', 'restart_command'),
         'rollback_model': ('restart_command',), 'quarantine_agent': ('stop_command',)}
_NEED_NAMES = {'files': 'env_file or files'}


def entry_problem(key, entry, needs=()):
    """None when services[key] is a usable entry that has everything in needs (of NEEDS' items), else what is wrong."""
    if not isinstance(entry, dict):
        return 'services[%r] must be a mapping with restart_command, stop_command, env_file or files' % key
    unknown = sorted(set(entry) - set(SERVICE_KEYS))
    if unknown:
        return 'services[%r] has unknown keys %s (known: %s)' % (key, ', '.join(map(str, unknown)), ', '.join(SERVICE_KEYS))
    files = list(entry.get('files') or []) + ([entry['env_file']] if entry.get('env_file') else [])
    if not all(isinstance(f, str) and os.path.isabs(f) for f in files):
        return 'services[%r] env_file and files must be absolute paths' % key
    for name in ('restart_command', 'stop_command'):
        if entry.get(name) is not None and not isinstance(entry[name], str):
            return 'services[%r] %s must be a command line (a string)' % (key, name)
    missing = [_NEED_NAMES.get(name, name) for name in needs if not (files if name == 'files' else entry.get(name))]
    if missing:
        return 'services[%r] has no %s' % (key, ' and no '.join(missing))
    if not (files or entry.get('restart_command') or entry.get('stop_command')):
        return 'services[%r] names nothing: give restart_command, stop_command, env_file or files' % key
    return None


def plan_problem(remediation, record, services):
    """What a remediation lacks to find and run the asset's service definition on its host (None when nothing): an entry of
    services (the host's aigov_baseline_services) by asset id or name with what NEEDS says, else pids with the start
    times discovery recorded, to find their systemd unit by (the pid rule). Checked on the controller before the start."""
    needs = NEEDS.get(remediation)
    if needs is None:
        return None
    for key in (record.get('id'), record.get('name')):
        if key and isinstance(services, dict) and key in services:
            return entry_problem(key, services[key], needs)
    attributes = record.get('attributes') or {}
    pids = [pid for pid in attributes.get('pids') or [] if isinstance(pid, int) and not isinstance(pid, bool)]
    if not pids:
        return ('no aigov_baseline_services entry for asset %s (keyed by its id or name) with %s, and discovery recorded '
                'no pid to find its systemd unit by' % (record.get('id'), ' and '.join(_NEED_NAMES.get(n, n) for n in needs)))
    times = attributes.get('start_times') or {}
    untimed = [pid for pid in pids if str(pid) not in times and pid not in times]
    if untimed:
        return ('no aigov_baseline_services entry for asset %s, and discovery recorded no start time of pid %d: its systemd '
                'unit cannot be trusted (run discovery again)' % (record.get('id'), untimed[0]))
    return None


def _explicit(server, services):
    for key in (server.get('asset_id'), server.get('name')):
        if key and key in (services or {}):
            entry = services[key]
            problem = entry_problem(key, entry)
            if problem:
                raise AigovError(problem)
            files = list(entry.get('files') or []) + ([entry['env_file']] if entry.get('env_file') else [])
            restart, stop = entry.get('restart_command'), entry.get('stop_command')
            return {'source': 'services', 'key': key, 'unit': None, 'problem': None, 'files': files, 'unedited': [],
                    'restart_commands': [shlex.split(restart)] if restart else [],
                    'stop_commands': [shlex.split(stop)] if stop else []}
    return None


def locate(server, services=None, proc_root='/proc', unit_dirs=UNIT_DIRS, editable=EDITABLE):
    """Where SERVER (a baseline target: asset_id, name, pids, start_times) is configured.

    Source 'none' (no unit, nothing to run) with the reason in `problem` when
    neither the services mapping nor a trusted systemd unit (_systemd) says.
    """
    found = _explicit(server, services)
    if found:
        return found
    try:
        found = container_target.locate_container(server, proc_root)
    except AigovError as exc:  # a reused pid, a rootless or unknown container: nothing to run, and why
        found = {'source': 'none', 'key': None, 'unit': None, 'problem': str(exc), 'files': [], 'unedited': [],
                 'restart_commands': [], 'stop_commands': []}
    if found:
        return found
    unit, fragment, dropins, problem = _systemd(server, proc_root, unit_dirs)
    if problem:
        return {'source': 'none', 'key': None, 'unit': None, 'problem': problem, 'files': [], 'unedited': [],
                'restart_commands': [], 'stop_commands': []}
    candidates = [fragment] + dropins
    candidates += [path for path in _environment_files(candidates) if path not in candidates]
    files = [p for p in candidates if p.startswith(tuple(editable)) or p not in [fragment] + dropins]
    return {'source': 'systemd', 'key': unit, 'unit': unit, 'problem': None, 'files': files,
            'unedited': [p for p in candidates if p not in files],
            'restart_commands': [['systemctl', 'daemon-reload'], ['systemctl', 'restart', unit]],
            'stop_commands': [['systemctl', 'stop', unit]]}


def apply_fix(fix, server, location, check_mode=False):
    """Apply FIXES[fix] to every located file; return (changed files, diffs)."""
    if fix not in FIXES:
        raise AigovError('fix must be one of %s, got %r' % (', '.join(sorted(FIXES)), fix))
    if location.get('source') == 'services' and not location['files']:
        raise AigovError('services[%r] has no env_file or files: nothing to edit' % location['key'])
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
