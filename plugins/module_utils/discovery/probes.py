# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The discovery probes by name. Each takes the module's options, the host name
and machine id, and returns (assets, problems)."""

from __future__ import annotations

import os

from ansible_collections.aigov.core.plugins.module_utils.discovery.agent_discovery import discover_agents, discover_mcp_processes
from ansible_collections.aigov.core.plugins.module_utils.discovery.artifact_discovery import discover_model_artifacts
from ansible_collections.aigov.core.plugins.module_utils.discovery.credentials import discover_credentials
from ansible_collections.aigov.core.plugins.module_utils.discovery.discovery import discover_servers
from ansible_collections.aigov.core.plugins.module_utils.discovery.gpu_discovery import discover_gpus
from ansible_collections.aigov.core.plugins.module_utils.discovery.mcp_discovery import discover_mcp_servers
from ansible_collections.aigov.core.plugins.module_utils.discovery.package_discovery import discover_ai_packages
from ansible_collections.aigov.core.plugins.module_utils.discovery.vector_dbs import VECTOR_DB_SIGNATURES


def _both(first, second, options, host, machine_id):
    """One probe made of two: MCP servers configured in clients and MCP servers running."""
    assets, problems = first(options, host, machine_id)
    more_assets, more_problems = second(options, host, machine_id)
    return assets + more_assets, problems + more_problems


PROBES = {
    'model_server': lambda options, host, machine_id: discover_servers(
        options['proc_root'], host, machine_id, http_timeout=options['http_timeout'] if options.get('http_probe') else None),
    'vector_db': lambda options, host, machine_id: discover_servers(options['proc_root'], host, machine_id, 'vector_db',
                                                                    VECTOR_DB_SIGNATURES),
    'model_artifact': discover_model_artifacts,
    'credential': discover_credentials,
    'ai_package': discover_ai_packages,
    'gpu': discover_gpus,
    'mcp_server': lambda options, host, machine_id: _both(discover_mcp_servers, discover_mcp_processes, options, host, machine_id),
    'agent': discover_agents,
}

# The order they run and are documented in.
PROBE_NAMES = ('model_server', 'vector_db', 'model_artifact', 'credential', 'ai_package', 'gpu', 'mcp_server', 'agent')


def default_hash_cache():
    """Where the artifact hash cache lives for the user the module runs as."""
    if os.geteuid() == 0:
        return '/var/cache/aigov/model-hashes.json'
    return os.path.join(os.path.expanduser('~'), '.cache', 'aigov', 'model-hashes.json')
