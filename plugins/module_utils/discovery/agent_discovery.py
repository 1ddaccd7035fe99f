# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The agent probe, and the running half of the mcp_server probe: agent runtimes
and MCP servers seen as processes, with their listeners and the names (never the
values) of the credentials in their environment.

Processes are matched and grouped the way discovery.py does it for model servers.
Processes with the same identity (the same agent or MCP server started twice by
the same user, or a launcher and the server it started) are one asset.
"""

from __future__ import annotations

from ansible_collections.aigov.core.plugins.module_utils.discovery import discovery, model_servers
from ansible_collections.aigov.core.plugins.module_utils.host import procfs
from ansible_collections.aigov.core.plugins.module_utils.discovery.agents import AGENT_SIGNATURES, MCP_SIGNATURES, mcp_server_name
from ansible_collections.aigov.core.plugins.module_utils.store.assets import make_asset
from ansible_collections.aigov.core.plugins.module_utils.discovery.credentials import PROVIDER_VARS
from ansible_collections.aigov.core.plugins.module_utils.common.redaction import is_secret_name, redact_argv
from ansible_collections.aigov.core.plugins.module_utils.discovery.server_versions import server_version


def credential_names(env_names):
    """Names of the variables that hold an AI-provider credential or look like a secret (names only)."""
    return sorted(name for name in env_names if name in PROVIDER_VARS or is_secret_name(name))


def _processes(proc_root, signatures, problems, label_of):
    """Yield (process, signature, pids, start times, listeners, env_names, env_values, env_readable) per process group."""
    matched = discovery.matched_processes(proc_root, signatures)
    kept = model_servers.value_env(signatures)
    for root, pids in sorted(discovery.group_workers(matched).items()):
        process, signature, _args = matched[root]
        label = label_of(process, signature)
        names, values, readable = discovery.environment_of(proc_root, process.pid, problems, label, kept)
        pairs = discovery.listeners_of(proc_root, sorted(pids), problems, label)
        listeners = None if pairs is None else [
            {'address': address, 'port': port, 'loopback': procfs.is_loopback(address)} for address, port in pairs]
        yield process, signature, sorted(pids), discovery.start_times(matched, pids), listeners, names, values, readable


def _merge(assets):
    """One asset per id: pids, listeners and evidence of duplicates join the first."""
    merged = {}
    for asset in assets:
        first = merged.setdefault(asset['id'], asset)
        if first is asset:
            continue
        attrs, extra = first['attributes'], asset['attributes']
        attrs['pids'] = sorted(set(attrs['pids']) | set(extra['pids']))
        attrs['start_times'] = dict(extra['start_times'], **attrs['start_times'])
        if attrs['listeners'] is not None and extra['listeners'] is not None:
            attrs['listeners'] = sorted({(i['address'], i['port'], i['loopback']) for i in attrs['listeners'] + extra['listeners']},
                                        key=lambda item: (item[1], item[0]))
            attrs['listeners'] = [dict(zip(('address', 'port', 'loopback'), item)) for item in attrs['listeners']]
        attrs['credential_env'] = sorted(set(attrs['credential_env']) | set(extra['credential_env']))
        first['evidence'].extend(item for item in asset['evidence'] if item not in first['evidence'])
        if asset['confidence'] == 'unresolved':
            first['confidence'] = 'unresolved'
    return sorted(merged.values(), key=lambda asset: asset['id'])


def _common(process, pids, started, listeners, names, readable):
    attributes = {
        'listeners': listeners,
        'exposed': None if listeners is None else any(not item['loopback'] for item in listeners),
        'credential_env': credential_names(names),
        'uid': process.uid,
        'executable': process.exe,
        'pids': pids,
        'start_times': started,
    }
    evidence = [{'type': 'process', 'pid': process.pid, 'uid': process.uid}]
    evidence.extend({'type': 'socket', 'pid': process.pid, 'address': item['address'], 'port': item['port']}
                    for item in listeners or [])
    evidence.extend({'type': 'env', 'pid': process.pid, 'variable': name} for name in attributes['credential_env'])
    confidence = 'inferred' if listeners is not None and readable else 'unresolved'
    return attributes, evidence, confidence


def _identity(name, process, listeners, cmdline):
    if listeners:
        return (name, listeners[0]['port'])
    return (name, process.uid) + tuple(cmdline)


def discover_agents(options, host, machine_id):
    """Return (assets, problems): one `agent` asset per agent runtime process (group)."""
    problems, assets = [], []
    proc_root = options['proc_root']
    for process, signature, pids, started, listeners, names, values, readable in _processes(
            proc_root, AGENT_SIGNATURES, problems, lambda p, s: '%s (pid %d)' % (s.display_name, p.pid)):
        attributes, evidence, confidence = _common(process, pids, started, listeners, names, readable)
        cmdline = redact_argv(process.argv)
        version, source, problem = server_version(proc_root, process, values, signature)
        if problem:
            problems.append('%s (pid %d): %s' % (signature.display_name, process.pid, problem))
        attributes.update(framework=signature.product, framework_name=signature.display_name, cmdline=cmdline,
                          version=version, version_source=source)
        assets.append(make_asset('agent', host, machine_id, _identity(signature.product, process, listeners, cmdline),
                                 signature.product, attributes, evidence, confidence))
    return _merge(assets), problems


def discover_mcp_processes(options, host, machine_id):
    """Return (assets, problems): one `mcp_server` asset with `running: true` per running MCP server."""
    problems, assets = [], []
    for process, _signature, pids, started, listeners, names, _values, readable in _processes(
            options['proc_root'], MCP_SIGNATURES, problems,
            lambda p, s: 'MCP server %s (pid %d)' % (mcp_server_name(p.argv), p.pid)):
        attributes, evidence, confidence = _common(process, pids, started, listeners, names, readable)
        name = mcp_server_name(process.argv)
        attributes.update(running=True, server=name, command=redact_argv(process.argv),
                          transport=None if listeners is None else ('http' if listeners else 'stdio'))
        # A launcher (npx) and the server it started share the name and user: one identity, one asset.
        identity = ('process', name, process.uid) + ((listeners[0]['port'],) if listeners else ())
        assets.append(make_asset('mcp_server', host, machine_id, identity, name, attributes, evidence, confidence))
    return _merge(assets), problems
