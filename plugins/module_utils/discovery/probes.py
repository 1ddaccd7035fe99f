# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The discovery probes by name. Each takes the module's options, the host name
and machine id, and returns (assets, problems).

run_probe() is the boundary around each: a probe that raises, or overruns its
deadline (probe_timeout seconds, plus hash_budget for model_artifact), becomes a
problem naming it, never a failed or hung module. The deadline is a SIGALRM
timer, so it also ends a system call that blocks; the probes keep their own
finer limits (per file, per HTTP answer) so that it is only the last resort.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading

from ansible_collections.aigov.core.plugins.module_utils.discovery.agent_discovery import discover_agents, discover_mcp_processes
from ansible_collections.aigov.core.plugins.module_utils.discovery.artifact_discovery import discover_model_artifacts
from ansible_collections.aigov.core.plugins.module_utils.discovery.containers import index_of
from ansible_collections.aigov.core.plugins.module_utils.discovery.credentials import discover_credentials
from ansible_collections.aigov.core.plugins.module_utils.discovery.discovery import discover_servers
from ansible_collections.aigov.core.plugins.module_utils.discovery.gpu_discovery import discover_gpus
from ansible_collections.aigov.core.plugins.module_utils.discovery.mcp_discovery import discover_mcp_servers
from ansible_collections.aigov.core.plugins.module_utils.discovery.package_discovery import discover_ai_packages
from ansible_collections.aigov.core.plugins.module_utils.discovery.vector_dbs import VECTOR_DB_SIGNATURES


def _both(first, second, options, host, machine_id):
    """One probe made of two: MCP servers configured in clients and MCP servers running (unless scan_processes is off)."""
    assets, problems = first(options, host, machine_id)
    if not options.get('scan_processes', True):
        return assets, problems
    more_assets, more_problems = second(options, host, machine_id)
    return assets + more_assets, problems + more_problems


PROBE_TIMEOUT = 120

PROBES = {
    'model_server': lambda options, host, machine_id: discover_servers(
        options['proc_root'], host, machine_id, http_timeout=options['http_timeout'] if options.get('http_probe') else None,
        http_budget=options.get('probe_timeout', PROBE_TIMEOUT) / 2.0, containers=index_of(options)),
    'vector_db': lambda options, host, machine_id: discover_servers(options['proc_root'], host, machine_id, 'vector_db',
                                                                    VECTOR_DB_SIGNATURES, containers=index_of(options)),
    'model_artifact': discover_model_artifacts,
    'credential': discover_credentials,
    'ai_package': discover_ai_packages,
    'gpu': discover_gpus,
    'mcp_server': lambda options, host, machine_id: _both(discover_mcp_servers, discover_mcp_processes, options, host, machine_id),
    'agent': discover_agents,
}

# Probes that look only at processes: with scan_processes off (files only) they find nothing.
PROCESS_PROBES = ('model_server', 'vector_db', 'agent')

# The order they run and are documented in.
PROBE_NAMES = ('model_server', 'vector_db', 'model_artifact', 'credential', 'ai_package', 'gpu', 'mcp_server', 'agent')


def default_hash_cache():
    """Where the artifact hash cache lives for the user the module runs as."""
    if os.geteuid() == 0:
        return '/var/cache/aigov/model-hashes.json'
    return os.path.join(os.path.expanduser('~'), '.cache', 'aigov', 'model-hashes.json')


class ProbeTimeout(Exception):
    """A probe ran past its deadline."""


@contextlib.contextmanager
def _deadline(seconds):
    """Raise ProbeTimeout in the block after SECONDS (only the main thread can take signals; elsewhere no limit)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(_signum, _frame):
        raise ProbeTimeout()
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_probe(name, options, host, machine_id):
    """(assets, problems) of the probe NAME; a crash or an overrun is a problem naming it, never raised."""
    if name in PROCESS_PROBES and not options.get('scan_processes', True):
        return [], []
    seconds = options.get('probe_timeout', PROBE_TIMEOUT) + (options.get('hash_budget', 60) if name == 'model_artifact' else 0)
    try:
        with _deadline(seconds):
            return PROBES[name](options, host, machine_id)
    except ProbeTimeout:
        return [], ['%s: stopped after %gs (probe_timeout); its assets are not reported this run' % (name, seconds)]
    except Exception as exc:  # the boundary: the type only, as a message could quote what was being read
        return [], ['%s: the probe failed (%s); its assets are not reported this run' % (name, type(exc).__name__)]
