# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Move plaintext AI keys out of .env files and MCP client configs into 0600 secret files.

- .env: the line `NAME=value` becomes `NAME_FILE=<secret file>` (the `_FILE`
  convention of container images and many SDK wrappers); the value goes to the
  secret file.
- MCP config: the `env` entry is removed and the server's command is wrapped in
  `/bin/sh -c` that reads the secret file into NAME and execs the original
  command, so the server still gets its key, and the config holds none.

A value is held only in local variables and written only to its secret file;
every text this engine returns (diff, results, errors) has it replaced by
`<redacted>`. A secret file that exists with other content is never
overwritten: that is reported as an error.

Root moves users' secrets, so every read and write goes through
module_utils/host/safe_files.py: a symlink or `..` a user controls on any path is
refused, the secret directory and files are made as the file's owner when
they lie in that user's directory, and no existing path is ever chowned.
Secret file names are made of [A-Za-z0-9_.-] only, and a variable name that is
not a shell variable name is refused, so no name leaves the secret directory.
"""

from __future__ import annotations

import json
import os
import re
import shlex

from ansible_collections.aigov.core.plugins.module_utils.host import safe_files
from ansible_collections.aigov.core.plugins.module_utils.discovery.credentials import PROVIDER_VARS
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.discovery.mcp_discovery import REFERENCE, secret_entries
from ansible_collections.aigov.core.plugins.module_utils.common.redaction import is_secret_name, redact_text

FORMATS = ('env_file', 'mcp_config')
MAX_SIZE = 1024 * 1024
SECRET_DIR_NAME = '.aigov-secrets'
WRAPPER_MARK = ': aigov-secret-wrapper;'
VARIABLE = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
_ENV_LINE = re.compile(r'^(\s*(?:export\s+)?)([A-Za-z_][A-Za-z0-9_]*)(\s*=\s*)(.*?)(\s*)$')
_UNSAFE_CHARS = re.compile(r'[^A-Za-z0-9_.-]')


def _unquote(value):
    if len(value) >= 2 and value[0] == value[-1] and value[0] in '"\'':
        return value[1:-1]
    return value


def _wanted(name, variables):
    if name.endswith('_FILE'):
        return False  # NAME_FILE=<path> is what a moved key leaves behind
    return name in variables if variables else (name in PROVIDER_VARS or is_secret_name(name))


def secret_path(secret_dir, path, name, server=None):
    """Where the value of NAME from PATH (and MCP SERVER) is kept: one plain file name in SECRET_DIR."""
    if not VARIABLE.match(name):
        raise AigovError('refusing to move %s%s from %s: %r is not a valid variable name; nothing was changed'
                         % (name, ' of server %s' % server if server else '', path, name))
    parts = [os.path.basename(path).lstrip('.') or 'secret'] + ([server] if server else []) + [name]
    return os.path.join(secret_dir, _UNSAFE_CHARS.sub('_', '.'.join(parts)))


def _move_env(text, path, secret_dir, variables):
    """Return (new text, [(name, server, secret file, value)])."""
    lines, moves = [], []
    for line in text.splitlines(True):
        body = line.rstrip('\r\n')
        found = _ENV_LINE.match(body)
        if found and _wanted(found.group(2), variables):
            value = _unquote(found.group(4))
            if value and not REFERENCE.match(value):
                target = secret_path(secret_dir, path, found.group(2))
                moves.append((found.group(2), None, target, value))
                body = '%s%s_FILE%s%s' % (found.group(1), found.group(2), found.group(3), target)
                line = body + line[len(line.rstrip('\r\n')):]
        lines.append(line)
    return ''.join(lines), moves


def _wrap(server, assignments):
    """Wrap SERVER's command so that it reads each (name, file) and execs the original."""
    reads = ''.join('%s="$(cat %s)" || exit 1; export %s; ' % (name, shlex.quote(target), name)
                    for name, target in assignments)
    args = [str(arg) for arg in server.get('args') or []]
    if server.get('command') == '/bin/sh' and args[:1] == ['-c'] and args[1:2] and args[1].startswith(WRAPPER_MARK):
        # Already wrapped by us: read the new files in the same wrapper.
        args[1] = WRAPPER_MARK + ' ' + reads + args[1][len(WRAPPER_MARK):].lstrip()
        server['args'] = args
    else:
        server['args'] = ['-c', WRAPPER_MARK + ' ' + reads + 'exec "$0" "$@"', str(server['command'])] + args
        server['command'] = '/bin/sh'


def _servers(data):
    for key in ('mcpServers', 'servers'):
        for name, server in sorted((data.get(key) or {}).items()):
            if isinstance(server, dict):
                yield name, server
    for _project, settings in sorted((data.get('projects') or {}).items()):
        if isinstance(settings, dict):
            for name, server in sorted((settings.get('mcpServers') or {}).items()):
                if isinstance(server, dict):
                    yield name, server


def _move_mcp(text, path, secret_dir, variables, problems):
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise AigovError('cannot move secrets out of %s: not valid JSON (%s)' % (path, str(exc).rsplit(':', 1)[-1].strip()))
    moves = []
    for name, server in _servers(data):
        entries = [(var, value) for var, value in secret_entries(server)
                   if isinstance(server.get('env'), dict) and var in server['env'] and (not variables or var in variables)]
        if not entries:
            continue
        if not server.get('command'):
            problems.append('%s: server %s has a literal secret but no command to wrap (remote server); not moved' % (path, name))
            continue
        assignments = []
        for var, value in entries:
            target = secret_path(secret_dir, path, var, name)
            moves.append((var, name, target, value))
            assignments.append((var, target))
            del server['env'][var]
        if not server['env']:
            del server['env']
        _wrap(server, assignments)
    if not moves:
        return text, moves
    return json.dumps(data, indent=2) + '\n', moves


def _redact(text, moves):
    for _name, _server, _target, value in moves:
        text = text.replace(value, '<redacted>')
    return text


def _write_secret(target, value, uid, gid, check_mode):
    """Write VALUE to TARGET (0600, owned like the source); False if it already holds it."""
    try:
        current = safe_files.read_text(target, 'read the secret file')
    except FileNotFoundError:
        current = None
    if current is not None:
        if current.rstrip('\n') != value:
            raise AigovError('secret file %s exists with a different value; refusing to overwrite it' % target)
        return False
    if not check_mode:
        safe_files.ensure_dir(os.path.dirname(target), 0o700, uid, gid)
        safe_files.create_file(target, (value + '\n').encode('utf-8', 'surrogateescape'), 0o600, uid, gid)
    return True


def move_secrets(path, file_format, variables=(), secret_dir=None, check_mode=False):
    """Move the literal secrets of PATH; return (changed, result, diff).

    result: {path, format, secret_dir, moved: [{variable, server, secret_file}],
    problems}. diff has before/after texts with every moved value redacted.
    """
    if file_format not in FORMATS:
        raise AigovError('format must be one of %s, got %r' % (', '.join(FORMATS), file_format))
    if not os.path.isabs(path):
        raise AigovError('path must be absolute, got %r' % path)
    secret_dir = secret_dir or os.path.join(os.path.dirname(path), SECRET_DIR_NAME)
    try:
        with safe_files.opened(path, 'move secrets out of') as (fd, info, _location, _uid):
            data = safe_files.read_fd(fd, MAX_SIZE + 1)
    except FileNotFoundError:
        return False, {'path': path, 'format': file_format, 'secret_dir': secret_dir, 'moved': [], 'problems': ['%s does not exist' % path]}, None
    except (IOError, OSError) as exc:
        raise AigovError('cannot read %s: %s' % (path, exc.strerror))
    if len(data) > MAX_SIZE:
        raise AigovError('refusing to move secrets out of %s: larger than %d bytes' % (path, MAX_SIZE))
    text = data.decode('utf-8', 'surrogateescape')
    problems = []
    if file_format == 'env_file':
        new_text, moves = _move_env(text, path, secret_dir, list(variables or ()))
    else:
        new_text, moves = _move_mcp(text, path, secret_dir, list(variables or ()), problems)
    moved = [{'variable': name, 'server': server, 'secret_file': target} for name, server, target, _value in moves]
    result = {'path': path, 'format': file_format, 'secret_dir': secret_dir, 'moved': moved, 'problems': problems}
    if not moves:
        return False, result, None
    try:
        for _name, _server, target, value in moves:
            _write_secret(target, value, info.st_uid, info.st_gid, check_mode)
        if not check_mode:
            safe_files.replace_file(path, new_text.encode('utf-8', 'surrogateescape'))
    except (IOError, OSError) as exc:
        raise AigovError('cannot move secrets out of %s: %s' % (path, _redact(str(exc.strerror or exc), moves)))
    diff = {'before': redact_text(_redact(text, moves)), 'after': redact_text(new_text), 'before_header': path, 'after_header': path}
    return True, result, diff
