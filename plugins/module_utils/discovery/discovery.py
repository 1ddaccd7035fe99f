# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The model_server and vector_db probes: turn what /proc shows into asset records.

Each probe returns (assets, problems). A problem is a sentence naming what
could not be seen and why (permissions, a process that vanished); probes
never fail a host for what a non-root user is not allowed to read.
"""

from __future__ import annotations

import errno
import time

from ansible_collections.aigov.core.plugins.module_utils.discovery import containers as container_context
from ansible_collections.aigov.core.plugins.module_utils.discovery import http_probe, model_servers
from ansible_collections.aigov.core.plugins.module_utils.host import procfs
from ansible_collections.aigov.core.plugins.module_utils.store.assets import make_asset
from ansible_collections.aigov.core.plugins.module_utils.common.redaction import redact_argv
from ansible_collections.aigov.core.plugins.module_utils.discovery.server_versions import clean_version, server_version


def _why(exc):
    return 'permission denied' if getattr(exc, 'errno', None) in (errno.EACCES, errno.EPERM) else str(exc)


def matched_processes(proc_root, signatures):
    """Return {pid: (Process, Signature, program args)} for every process one of the signatures knows."""
    matched = {}
    for pid in procfs.list_pids(proc_root):
        argv = procfs.read_argv(proc_root, pid)
        if argv is None:
            continue
        signature, args = model_servers.identify(argv, signatures)
        if signature is None:
            continue
        process = procfs.read_process(proc_root, pid, argv)
        if process is not None:
            matched[pid] = (process, signature, args)
    return matched


def start_times(matched, pids):
    """{pid (as text, a JSON key): start time} of matched processes: what tells each from a later one with its pid."""
    return dict((str(pid), matched[pid][0].start_time) for pid in pids)


def group_workers(matched):
    """Fold forked workers into their server: {root pid: [pids]}.

    Servers fork workers that keep the parent's command line (uvicorn, TGI
    shards); they are one asset, not several.
    """
    groups = {}
    for pid, (process, signature, _args) in matched.items():
        root = pid
        parent = process.ppid
        while parent in matched and matched[parent][1].product == signature.product:
            root, parent = parent, matched[parent][0].ppid
        groups.setdefault(root, []).append(pid)
    return groups


def listeners_of(proc_root, pids, problems, label):
    """Listening (address, port) pairs of a group of pids, or None if they cannot be seen."""
    inodes = set()
    for pid in pids:
        try:
            inodes |= procfs.socket_inodes(proc_root, pid)
        except (IOError, OSError) as exc:
            problems.append('%s: cannot read open sockets of pid %d (%s); listeners unknown' % (label, pid, _why(exc)))
            return None
    table = procfs.listening_sockets(proc_root, pids[0])  # workers share the server's namespace
    return sorted({table[inode] for inode in inodes if inode in table}, key=lambda pair: (pair[1], pair[0]))


def environment_of(proc_root, pid, problems, label, value_env):
    try:
        names, values = procfs.read_environ(proc_root, pid, value_env)
        return names, values, True
    except (IOError, OSError) as exc:
        problems.append('%s: cannot read the environment of pid %d (%s)' % (label, pid, _why(exc)))
        return set(), {}, False


def _version(proc_root, processes, signature, env_values, problems, label):
    """(version, version_source) from package metadata or the image's variable, without running anything.

    The group's processes are tried in turn: the root may be a wrapper (TGI's
    launcher, NIM's start script) while a worker is the Python server.
    """
    version = source = None
    for process in processes:
        version, source, problem = server_version(proc_root, process, env_values, signature)
        if problem:
            problems.append('%s: %s' % (label, problem))
        if version or problem:
            break
    return version, source


def _http(proc_root, pid, signature, listeners, http, problems, label, container=None):
    """The http attribute (None when not probing) and the version the server itself answered, with its source."""
    if http is None:
        return None, None, None
    if not http_probe.same_network_namespace(proc_root, pid):
        # a container's namespace is not entered: its published host ports are asked instead
        listeners = container_context.probe_listeners(listeners, container) if container else []
        if not listeners:
            return http_probe.not_probed('in another network namespace, or its namespace cannot be read'
                                         + (', and no port of it is published' if container else '')), None, None
    result, errors = http_probe.probe(signature.http_paths, listeners, *http)
    problems.extend('%s: %s' % (label, error) for error in errors)
    return result, result.pop('version', None), result.pop('version_source', None)


def _server_seen(value_env, proc_root, matched, root, pids, problems):
    """What the server's processes show by themselves (first pass: no runtime, no network)."""
    process, signature, args = matched[root]
    label = '%s (pid %d)' % (signature.display_name, process.pid)
    env_names, env_values, env_readable = environment_of(proc_root, process.pid, problems, label, value_env)
    pairs = listeners_of(proc_root, pids, problems, label)
    auth, auth_evidence = model_servers.auth_state(signature, args, env_names, env_values, env_readable)
    model = model_servers.served_model(signature, args, env_values)
    listeners = None if pairs is None else [
        {'address': address, 'port': port, 'loopback': procfs.is_loopback(address)} for address, port in pairs]
    attributes = {
        'product': signature.product,
        'product_name': signature.display_name,
        'model': None if model is None else redact_argv([model])[0],
        'listeners': listeners,
        'exposed': None if listeners is None else any(not item['loopback'] for item in listeners),
        'auth': auth,
        'auth_evidence': auth_evidence,
        'dev_mode': model_servers.dev_mode(signature, env_values),
        'uid': process.uid,
        'executable': process.exe,
        'cmdline': redact_argv(process.argv),
        'pids': sorted(pids),
        'start_times': start_times(matched, pids),
    }
    attributes['version'], attributes['version_source'] = _version(
        proc_root, [process] + [matched[pid][0] for pid in pids if pid != root], signature, env_values, problems, label)
    return {'process': process, 'signature': signature, 'label': label, 'model': model, 'attributes': attributes,
            'env_readable': env_readable}


def _server_asset(kind, proc_root, host, machine_id, seen, problems, http=None, container=None):
    """The asset of a server seen in the first pass, with its container (second pass) and the HTTP probe's answer."""
    process, signature, model, attributes = seen['process'], seen['signature'], seen['model'], seen['attributes']
    listeners = attributes['listeners']
    if container and container['name'] and not container['host_network']:
        # ports inside containers repeat (every vLLM image listens on 8000): the container names the server
        identity = (signature.product, container['runtime'], container['name'])
    elif listeners:
        identity = (signature.product, listeners[0]['port'])
    else:
        identity = (signature.product, model or '', process.exe or process.argv[0])
    attributes['http'], http_version, http_source = _http(proc_root, process.pid, signature, listeners, http, problems,
                                                          seen['label'], container)
    if http_version:  # the running server's answer beats metadata on disk, which may have been upgraded since
        attributes['version'], attributes['version_source'] = http_version, http_source
    if container is not None:
        attributes['exposed'], attributes['exposed_by'] = container_context.exposure(listeners, container)
        attributes['container'] = dict(container, model_host_path=container_context.host_path(container, model))
        if attributes['version'] is None:  # the image states the version of the server it ships
            image_version, image_source = container_context.image_version(container)
            attributes['version'] = clean_version(image_version)
            attributes['version_source'] = image_source if attributes['version'] else None
    evidence = [{'type': 'process', 'pid': process.pid, 'uid': process.uid}]
    evidence.extend({'type': 'socket', 'pid': process.pid, 'address': item['address'], 'port': item['port']}
                    for item in listeners or [])
    if container is not None:  # the published ports that expose it, as a finding's evidence shows them
        evidence.extend(container_context.exposing_evidence(process.pid, listeners, container))
    confidence = 'inferred' if listeners is not None and seen['env_readable'] else 'unresolved'
    return make_asset(kind, host, machine_id, identity, signature.product, attributes, evidence, confidence)


def discover_servers(proc_root, host, machine_id, kind='model_server', signatures=model_servers.SIGNATURES,
                     http_timeout=None, http_budget=None, containers=None):
    """Return (assets, problems) for every server process the signatures know (model servers by default).

    http_timeout: seconds for each answer of the HTTP probe, or None to leave the servers alone;
    http_budget: seconds for all of this run's HTTP probing (None: no total);
    containers: the run's containers.ContainerIndex (None: no container context).
    """
    problems = []
    matched = matched_processes(proc_root, signatures)
    kept = model_servers.value_env(signatures)
    http = None if http_timeout is None else (
        http_timeout, None if http_budget is None else time.monotonic() + http_budget)
    groups = sorted(group_workers(matched).items())
    # the runtime is asked in the background while the processes are read (it is another program's time)
    asking = None if containers is None else containers.ask([root for root, _pids in groups])
    seen = [(root, _server_seen(kept, proc_root, matched, root, sorted(pids), problems)) for root, pids in groups]
    contexts = {}
    if asking is not None:
        contexts, seen_problems = asking.result()
        problems.extend('%s: %s' % (kind, problem) for problem in seen_problems)
        containers.serving.update((context['id'], context) for context in contexts.values())
    assets = [_server_asset(kind, proc_root, host, machine_id, one, problems, http, contexts.get(root)) for root, one in seen]
    return sorted(assets, key=lambda asset: asset['id']), problems
