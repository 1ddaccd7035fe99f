# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A containerised server is acted on through its runtime (or the systemd unit that manages its container),
never by signalling its pids.

locate_container() is service_config.locate()'s container step. The container is the one the
server's running pids are in (their cgroup, read only while each pid still has the start time
discovery recorded), or, when none runs any more (a server that is down), the container discovery
recorded for it (`container`: runtime and id); either way the runtime must still know it, under the
recorded name. Its restart and stop are the runtime's own commands (`podman restart`, `docker
restart`; on a Kubernetes node `crictl stop`, after which the kubelet starts it again), or the
unit's when the container carries one (PODMAN_SYSTEMD_UNIT: quadlet, `podman generate systemd`).

republish_loopback() is the container's rebind: a published port cannot be changed in place, so a
podman container is re-created from its own create command with each port published on a
non-loopback address published on 127.0.0.1 instead (same host port, same container port). The
old container is stopped and renamed aside first, removed once the new one runs, and brought
back if the new one does not start. The create command may hold secrets (-e KEY=...): it is
never returned or logged; only the mappings before and after are.
"""

from __future__ import annotations

import os
import re

from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.discovery import containers as context_of_container
from ansible_collections.aigov.core.plugins.module_utils.host import container_runtime
from ansible_collections.aigov.core.plugins.module_utils.host.procfs import is_loopback
from ansible_collections.aigov.core.plugins.module_utils.remediation import process_stop

STOP_TIME = 10
ASIDE = '-aigov-replaced'
_HEX_ID = re.compile(r'^[0-9a-f]{64}$')


def _running_container(server, proc_root):
    """(runtime, id) of the container the server's running pids are in; None when none runs or none is in one."""
    owners = set()
    times = process_stop.start_times(server.get('start_times'))
    for pid in server.get('pids') or ():
        files = process_stop.read_files(proc_root, pid, times.get(pid), ('cgroup',))
        if files is None:
            continue
        found = container_runtime.container_of_cgroup(files['cgroup'])
        own = container_runtime.read_container(proc_root, 'self')  # acting from inside that container: not one
        found = None if found and own and own[1] == found[1] else found
        if found and found[2]:
            raise AigovError('pid %d runs in a rootless %s container (a user\'s): it is not acted on as root' % (pid, found[0]))
        owners.add(found[:2] if found else None)
    if len(owners) > 1:
        raise AigovError('the pids of %s run in different containers (or some in none): nothing done'
                         % (server.get('name') or server.get('asset_id')))
    return owners.pop() if owners else None


def _recorded(server):
    recorded = server.get('container') or {}
    runtime, container_id = recorded.get('runtime'), recorded.get('id')
    if runtime not in container_runtime.BINARIES or not isinstance(container_id, str) or not _HEX_ID.match(container_id):
        return None
    return runtime, container_id


def inspect_one(runtime, container_id, binaries=None):
    """The runtime's record of the container; AigovError when it cannot be asked or does not know it."""
    records, problems = container_runtime.inspect(runtime, [container_id], binaries=binaries)
    if container_id not in records:
        raise AigovError('; '.join(problems) or '%s does not know container %s' % (runtime, container_id[:12]))
    return records[container_id]


def _unit_commands(unit, verb):
    from ansible_collections.aigov.core.plugins.module_utils.remediation.service_config import UNIT_NAME  # (no cycle at import)
    if not UNIT_NAME.match(unit):
        raise AigovError('the container names unit %r, which is not a systemd service name: nothing done' % unit)
    return [['systemctl', verb, unit]]


def locate_container(server, proc_root='/proc', binaries=None):
    """The location (as service_config.locate returns it) of a containerised server, or None when it is not one."""
    found = _running_container(server, proc_root)
    if found is None and not any(process_stop.find(proc_root, pid, process_stop.start_times(server.get('start_times')).get(pid))
                                 for pid in server.get('pids') or ()):
        found = _recorded(server)  # down: the container discovery saw it in
    if found is None:
        return None
    runtime, container_id = found
    record = inspect_one(runtime, container_id, (binaries or {}).get(runtime))
    context = context_of_container.context_of(runtime, container_id, False, record)
    recorded_name = (server.get('container') or {}).get('name')
    if recorded_name and context['name'] != recorded_name:
        raise AigovError('container %s is named %s now, not %s as discovery saw it: nothing done'
                         % (container_id[:12], context['name'], recorded_name))
    binary = container_runtime.trusted_binary(runtime, (binaries or {}).get(runtime))[0]
    if context['unit']:
        restart, stop = _unit_commands(context['unit'], 'restart'), _unit_commands(context['unit'], 'stop')
    elif runtime in ('podman', 'docker'):
        restart = [[binary, 'restart', '--time' if runtime == 'podman' else '-t', str(STOP_TIME), container_id]]
        stop = [[binary, 'stop', '--time' if runtime == 'podman' else '-t', str(STOP_TIME), container_id]]
    else:  # the kubelet owns a pod's containers: a stopped one is started again, so a stop is no stop
        restart, stop = [[binary, 'stop', '--timeout', str(STOP_TIME), container_id]], []
    return {'source': 'container', 'key': context['name'] or container_id, 'unit': context['unit'], 'problem': None,
            'files': [], 'unedited': [], 'restart_commands': restart, 'stop_commands': stop,
            'container': {'runtime': runtime, 'id': container_id, 'name': context['name'], 'image': context['image'],
                          'published': mapping_texts(context['ports'] or [])}}


def mapping_texts(ports):
    return ['%s:%d->%d/%s' % (item['host_ip'], item['host_port'], item['container_port'], item['protocol']) for item in ports]


def _loopback_publish(value):
    """A -p value published on 127.0.0.1 instead of any non-loopback address (ip:host:container[/proto])."""
    if value.startswith('['):
        address, _sep, rest = value[1:].partition(']:')
    else:
        parts = value.split(':')
        address, rest = (parts[0], ':'.join(parts[1:])) if len(parts) == 3 else ('', ':'.join(parts) if len(parts) == 2 else ':' + value)
    return value if address and is_loopback(address) else '127.0.0.1:' + rest


def _image_index(argv, start, image_names):
    for index in range(start, len(argv)):
        if argv[index] in image_names:
            return index
    raise AigovError('the create command of the container does not name its image: it cannot be re-created; nothing done')


def rewrite_create_command(argv, image_names, name):
    """(new argv after the binary, subcommand) with every publication on loopback; AigovError when it cannot be."""
    if not argv or os.path.basename(argv[0]) != 'podman':
        raise AigovError('the container was not created by the podman CLI: it cannot be re-created; nothing done')
    start = 2 if argv[1:2] in (['run'], ['create']) else 3 if argv[1:2] == ['container'] and argv[2:3] in (['run'], ['create']) else 0
    if not start:
        raise AigovError('the container\'s create command is not podman run or create: it cannot be re-created; nothing done')
    end = _image_index(argv, start, image_names)
    options, out, index = argv[start:end], [], 0
    while index < len(options):
        token = options[index]
        flag, sep, value = token.partition('=')
        network = (value if sep else ''.join(options[index + 1:index + 2])) if flag in ('--network', '--net') else None
        if flag in ('-P', '--publish-all') or network == 'host':
            raise AigovError('the container publishes every port (-P) or uses host networking: a published mapping does '
                             'not decide its exposure; rebind the server\'s own address instead; nothing done')
        if flag in ('-p', '--publish') and sep:
            out.append('%s=%s' % (flag, _loopback_publish(value)))
        elif token in ('-p', '--publish') and index + 1 < len(options):
            out.extend([token, _loopback_publish(options[index + 1])])
            index += 1
        else:
            out.append(token)
        index += 1
    if not any(token == '--name' or token.startswith('--name=') for token in options):
        out = ['--name', name] + out
    verb = argv[start - 1]
    if verb == 'run' and not any(token in ('-d', '--detach', '--detach=true') or re.match(r'^-[a-z]*d[a-z]*$', token)
                                 for token in options):
        out = ['-d'] + out
    return argv[1:start] + out + argv[end:], verb


def plan_container(container):
    """What a remediation plan carries of the asset's container (runtime, id, name), or None."""
    if not isinstance(container, dict) or not container.get('id'):
        return None
    return dict((key, container.get(key)) for key in ('runtime', 'id', 'name'))


def plan_ports(listeners, container):
    """The ports a post-check connects to on the host: a container's host ports published to a listener's port
    (when it has its own network), else the listeners' ports."""
    ports = set(item['port'] for item in listeners if isinstance(item, dict) and isinstance(item.get('port'), int))
    if isinstance(container, dict) and container.get('inspected') and not container.get('host_network') \
            and container.get('network_mode') != 'pod':
        inside = set(item['port'] for item in listeners if isinstance(item, dict) and not item.get('loopback'))
        ports = set(item['host_port'] for item in context_of_container.published(container, inside))
    return sorted(ports)
