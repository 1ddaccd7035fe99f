# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mcp_server probe: MCP servers configured in AI clients, for every user.

Clients keep their MCP servers in JSON files at well-known paths (Claude
Desktop, Claude Code, Cursor, VS Code, Windsurf, Gemini CLI): those are the
default of the module's `mcp_config_files` option, which also takes other
paths (a shared config, a project checkout). Each configured server is an
asset; secrets in its `env` or headers are reported by fingerprint (the
credential probe reads the same files through read_configs).

The configs belong to their users: each is read as a regular file without
blocking, at most MAX_CONFIG_BYTES, its JSON nesting bounded, and any field of
an unexpected type is taken as absent; a bad file is a problem naming it.
"""

from __future__ import annotations

import fnmatch
import re

from ansible_collections.aigov.core.plugins.module_utils.common import bounded_json
from ansible_collections.aigov.core.plugins.module_utils.store.assets import make_asset
from ansible_collections.aigov.core.plugins.module_utils.common.fingerprints import fingerprint, fingerprint_key
from ansible_collections.aigov.core.plugins.module_utils.common.redaction import is_secret_name, redact_argv, redact_value
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.host import safe_files
from ansible_collections.aigov.core.plugins.module_utils.host.user_paths import expand_globs

MCP_CONFIGS = (
    ('claude_desktop', '~/.config/Claude/claude_desktop_config.json'),
    ('claude_code', '~/.claude.json'),
    ('cursor', '~/.cursor/mcp.json'),
    ('vscode', '~/.vscode/mcp.json'),
    ('vscode', '~/.config/Code/User/mcp.json'),
    ('windsurf', '~/.codeium/windsurf/mcp_config.json'),
    ('gemini', '~/.gemini/settings.json'),
)
DEFAULT_MCP_CONFIGS = tuple(pattern for _client, pattern in MCP_CONFIGS)
MAX_CONFIG_BYTES = 8 * 1024 * 1024
# `${input:x}`, `${env:X}`, `$X`: a reference to a secret kept elsewhere, not a secret.
REFERENCE = re.compile(r'^\$(\{[^}]+\}|[A-Za-z_][A-Za-z0-9_]*)$')


def _mapping(value):
    return value if isinstance(value, dict) else {}


def _servers(data):
    """(scope, name, server) for every server in a client config (top level and per project)."""
    for key in ('mcpServers', 'servers'):
        for name, server in sorted(_mapping(data.get(key)).items()):
            if isinstance(server, dict):
                yield None, name, server
    for project, settings in sorted(_mapping(data.get('projects')).items()):
        for name, server in sorted(_mapping(_mapping(settings).get('mcpServers')).items()):
            if isinstance(server, dict):
                yield project, name, server


def parse_config(data):
    """[(scope, name, server)] of a client config's bytes; ValueError when it is not a JSON object."""
    document = bounded_json.loads(data)
    if not isinstance(document, dict):
        raise ValueError('top level is not a JSON object')
    return list(_servers(document))


def client_of(path):
    """The client whose well-known file PATH is (in any directory, e.g. a copied home), else 'other'."""
    for client, pattern in MCP_CONFIGS:
        if fnmatch.fnmatchcase(path, '*/' + pattern[2:]):
            return client
    return 'other'


def read_configs(patterns, problems):
    """Yield (client, path, stat, scope, name, server) for every readable MCP client config matching PATTERNS.

    PATTERNS are globs, `~/` meaning every user's home. Each file is read through safe_files as
    the user who controls it: a symlink in their directory to a file of root's is refused, not read.
    """
    for path in expand_globs(patterns):
        try:
            with safe_files.opened(path, 'read') as (fd, info, _location, _uid):
                data = safe_files.read_fd(fd, MAX_CONFIG_BYTES + 1)
            if len(data) > MAX_CONFIG_BYTES:
                problems.append('mcp_server: skipped %s (larger than %d bytes)' % (path, MAX_CONFIG_BYTES))
                continue
            servers = parse_config(data)
        except FileNotFoundError:
            continue
        except AigovError as exc:  # a symlink or directory its user controls, a FIFO
            problems.append('mcp_server: %s' % exc)
            continue
        except (IOError, OSError) as exc:
            problems.append('mcp_server: cannot read %s (%s)' % (path, exc.strerror))
            continue
        except ValueError as exc:
            problems.append('mcp_server: skipped malformed JSON in %s (%s)' % (path, str(exc).rsplit(':', maxsplit=1)[-1].strip()))
            continue
        for scope, name, server in servers:
            yield client_of(path), path, info, scope, name, server


def secret_entries(server):
    """(variable, value) of literal secrets in a server's env and headers (references excluded)."""
    for section in ('env', 'headers'):
        for key, value in sorted(_mapping(server.get(section)).items()):
            if isinstance(value, str) and value and not REFERENCE.match(value) and (is_secret_name(key) or section == 'headers'):
                yield key, value


def _text(value):
    return value if isinstance(value, str) and value else None


def server_attributes(client, path, scope, name, server, key):
    """The attributes of one configured server; fields of an unexpected type count as absent."""
    args = server.get('args') if isinstance(server.get('args'), list) else []
    command = [str(part) for part in [server.get('command')] + args if part is not None]
    url = _text(server.get('url')) or _text(server.get('serverUrl')) or _text(server.get('httpUrl'))
    credentials = [{'variable': variable, 'fingerprint': fingerprint(value, key)} for variable, value in secret_entries(server)]
    return {
        'running': False,  # configured; running MCP servers come from agent_discovery
        'client': client,
        'config': path,
        'project': scope,
        'server': name,
        'transport': 'stdio' if command else (_text(server.get('type')) or 'http'),
        'command': redact_argv(command) if command else None,
        'url': redact_value(url) if url else None,
        'env_names': sorted(_mapping(server.get('env'))),
        'credentials': credentials,
        'plaintext_credentials': bool(credentials),
    }


def discover_mcp_servers(options, host, machine_id):
    """Return (assets, problems): one asset per configured MCP server per client config."""
    problems, assets = [], []
    key = fingerprint_key(options)
    for client, path, _info, scope, name, server in read_configs(options.get('mcp_config_files', DEFAULT_MCP_CONFIGS), problems):
        attributes = server_attributes(client, path, scope, name, server, key)
        assets.append(make_asset('mcp_server', host, machine_id, (path, scope or '', name), name, attributes,
                                 [{'type': 'file', 'path': path}], confidence='declared'))
    return sorted(assets, key=lambda asset: asset['id']), problems
