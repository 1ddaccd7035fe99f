# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The credential probe: AI-provider keys in process environments, command
lines, .env files and token files, reported by fingerprint, never by value.

A value is read into one local variable, turned into an HMAC fingerprint and
dropped; no record, message or exception ever holds it. The same key found in
two places has the same fingerprint (under the same fingerprint key), which is
how a key shared by several agents shows.

.env and token files are read through module_utils/host/safe_files.py: a file in a
user's directory is read with that user's uid, and a symlink the user controls
is not followed, so ~/.env -> /root/.env is reported as a problem, never as
the user's key.
"""

from __future__ import annotations

import os
import re
import stat as stat_module
import time

from ansible_collections.aigov.core.plugins.module_utils.host import procfs, safe_files
from ansible_collections.aigov.core.plugins.module_utils.store.assets import make_asset
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.common.fingerprints import fingerprint, fingerprint_key
from ansible_collections.aigov.core.plugins.module_utils.discovery.mcp_discovery import DEFAULT_MCP_CONFIGS, read_configs, secret_entries
from ansible_collections.aigov.core.plugins.module_utils.common.redaction import redact_argv
from ansible_collections.aigov.core.plugins.module_utils.host.user_paths import expand_globs

PROVIDER_VARS = {
    'OPENAI_API_KEY': 'openai', 'AZURE_OPENAI_API_KEY': 'azure_openai', 'ANTHROPIC_API_KEY': 'anthropic',
    'HF_TOKEN': 'huggingface', 'HUGGING_FACE_HUB_TOKEN': 'huggingface', 'HUGGINGFACEHUB_API_TOKEN': 'huggingface',
    'GEMINI_API_KEY': 'google', 'GOOGLE_API_KEY': 'google', 'COHERE_API_KEY': 'cohere', 'CO_API_KEY': 'cohere',
    'MISTRAL_API_KEY': 'mistral', 'GROQ_API_KEY': 'groq', 'TOGETHER_API_KEY': 'together', 'REPLICATE_API_TOKEN': 'replicate',
    'DEEPSEEK_API_KEY': 'deepseek', 'PERPLEXITY_API_KEY': 'perplexity', 'PPLX_API_KEY': 'perplexity', 'XAI_API_KEY': 'xai',
    'OPENROUTER_API_KEY': 'openrouter', 'VLLM_API_KEY': 'vllm', 'LITELLM_MASTER_KEY': 'litellm',
    'PINECONE_API_KEY': 'pinecone', 'LANGSMITH_API_KEY': 'langsmith', 'LANGCHAIN_API_KEY': 'langsmith',
    'WANDB_API_KEY': 'wandb', 'QDRANT_API_KEY': 'qdrant', 'WEAVIATE_API_KEY': 'weaviate',
}
# Command-line flags whose value is an AI credential, and the provider it belongs to.
PROVIDER_FLAGS = {'--api-key': 'model_server', '--api-keys': 'model_server', '--hf-token': 'huggingface',
                  '--master_key': 'litellm', '--master-key': 'litellm'}
DEFAULT_FILES = ('~/.env', '~/*/.env', '/opt/*/.env', '/opt/*/*/.env', '/srv/*/.env', '/etc/*.env')
TOKEN_FILES = (('~/.cache/huggingface/token', 'huggingface'), ('~/.huggingface/token', 'huggingface'))
MAX_FILE_SIZE = 1024 * 1024
_ENV_LINE = re.compile(r'^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$')


def _age_days(mtime):
    return round(max(0.0, time.time() - mtime) / 86400.0, 1)


def _env_file_values(text):
    """(name, value) pairs of provider variables in a dotenv/shell file."""
    for line in text.splitlines():
        found = _ENV_LINE.match(line)
        if found and found.group(1) in PROVIDER_VARS:
            value = found.group(2)
            if len(value) >= 2 and value[0] == value[-1] and value[0] in '"\'':
                value = value[1:-1]
            if value:
                yield found.group(1), value


class _Found(object):
    """Credentials seen so far, merged by (source, location, variable, fingerprint)."""

    def __init__(self, key):
        self.key, self.items = key, {}

    def add(self, value, provider, variable, source, location, mtime, extra=None):
        mark = fingerprint(value, self.key)
        ident = (source, location, variable, mark)
        item = self.items.setdefault(ident, dict(provider=provider, variable=variable, source=source, location=location,
                                                 fingerprint=mark, age_days=_age_days(mtime), pids=[]))
        item.update(extra or {})
        return item


def _from_processes(proc_root, found, problems):
    names = frozenset(PROVIDER_VARS)
    try:
        pids = procfs.list_pids(proc_root)
    except OSError as exc:
        problems.append('credential: cannot list processes in %s (%s)' % (proc_root, exc.strerror))
        return
    for pid in pids:
        argv = procfs.read_argv(proc_root, pid)
        if not argv:
            continue
        program = ' '.join(redact_argv(argv[:3]))
        try:
            started = os.stat(os.path.join(proc_root, str(pid))).st_mtime
            _names, values = procfs.read_environ(proc_root, pid, names)
        except (IOError, OSError):
            continue  # other users' environments; the model_server probe reports what it cannot read
        for variable, value in sorted(values.items()):
            if value:
                found.add(value, PROVIDER_VARS[variable], variable, 'process_env', program, started)['pids'].append(pid)
        for index, token in enumerate(argv[:-1]):
            flag, sep, inline = token.partition('=')
            if flag in PROVIDER_FLAGS:
                value = inline if sep else argv[index + 1]
                if value and not value.startswith('-'):
                    found.add(value, PROVIDER_FLAGS[flag], flag, 'argv', program, started)['pids'].append(pid)


def _file_extra(info):
    return {'mode': '%04o' % stat_module.S_IMODE(info.st_mode), 'uid': info.st_uid,
            'world_readable': bool(info.st_mode & stat_module.S_IROTH)}


def _from_files(paths, token_files, found, problems):
    for path, provider in [(p, None) for p in paths] + token_files:
        try:
            with safe_files.opened(path, 'read') as (fd, info, _location, _uid):
                if info.st_size > MAX_FILE_SIZE:
                    continue
                text = safe_files.read_fd(fd, MAX_FILE_SIZE).decode('utf-8', 'replace')
        except AigovError as exc:  # a symlink or directory its user controls, a FIFO: not read
            problems.append('credential: %s' % exc)
            continue
        except (IOError, OSError) as exc:
            problems.append('credential: cannot read %s (%s)' % (path, exc.strerror))
            continue
        if provider:  # a token file holds the token alone
            if text.strip():
                found.add(text.strip(), provider, None, 'token_file', path, info.st_mtime, _file_extra(info))
            continue
        for variable, value in _env_file_values(text):
            found.add(value, PROVIDER_VARS[variable], variable, 'env_file', path, info.st_mtime, _file_extra(info))


def _from_mcp_configs(patterns, found):
    """Literal secrets in MCP servers' env/headers (unreadable configs are the mcp_server probe's to report)."""
    for _client, path, info, _scope, name, server in read_configs(patterns, []):
        for variable, value in secret_entries(server):
            found.add(value, PROVIDER_VARS.get(variable, 'mcp:%s' % name), variable, 'mcp_config', path, info.st_mtime,
                      _file_extra(info))


def discover_credentials(options, host, machine_id):
    """Return (assets, problems) for the AI-provider credentials on this host."""
    problems = []
    found = _Found(fingerprint_key(options))
    if options.get('scan_processes', True):
        _from_processes(options.get('proc_root', '/proc'), found, problems)
    token_files = [(path, provider) for pattern, provider in TOKEN_FILES for path in expand_globs([pattern])]
    _from_files(expand_globs(options.get('credential_files', DEFAULT_FILES)), token_files, found, problems)
    _from_mcp_configs(options.get('mcp_config_files', DEFAULT_MCP_CONFIGS), found)
    assets = []
    for (source, location, variable, mark), item in sorted(found.items.items()):
        item['pids'] = sorted(set(item['pids']))
        in_file = source in ('env_file', 'token_file', 'mcp_config')
        evidence = [{'type': 'file', 'path': location} if in_file else {'type': 'process', 'program': location}]
        assets.append(make_asset('credential', host, machine_id, (source, location, variable or '', mark),
                                 item['provider'], item, evidence))
    return sorted(assets, key=lambda asset: asset['id']), problems
