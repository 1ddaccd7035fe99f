# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Container context of the processes discovery found: which container, what the runtime says about it,
and what that means for exposure, the HTTP probe, model files and versions.

ContainerIndex is built once per discovery run (options['_containers']) and shared by the probes:
each process's cgroup names its runtime and container (host/container_runtime.py), and each
runtime is asked once, read-only and within a timeout, about all the containers seen. A
container's environment and create command are never copied: they hold secrets.

Exposure through a container: a server inside a container's network namespace is reached from
the network only through a port published on a non-loopback host address, or directly with host
networking. A listener bound to the container's own loopback cannot be reached through a
published port at all.
"""

from __future__ import annotations

import os
import threading

from ansible_collections.aigov.core.plugins.module_utils.common.redaction import REDACTED, is_secret_name, redact_value
from ansible_collections.aigov.core.plugins.module_utils.host import container_runtime
from ansible_collections.aigov.core.plugins.module_utils.host.procfs import is_loopback

K8S_LABELS = {'namespace': 'io.kubernetes.pod.namespace', 'pod': 'io.kubernetes.pod.name',
              'container': 'io.kubernetes.container.name', 'pod_uid': 'io.kubernetes.pod.uid'}
# Labels that name an owner or a version where the image's own build put them.
VERSION_LABELS = ('org.opencontainers.image.version', 'version')
# Mount sources never walked for model files: system trees a container sees, not a model store.
NOT_MODEL_STORES = ('/', '/proc', '/sys', '/dev', '/run', '/var/run', '/etc', '/boot', '/tmp', '/var/lib/containers')
MAX_LABELS = 100


def _labels(raw):
    """Labels as strings; a value whose key looks secret is replaced by <redacted>."""
    labels = {}
    for key, value in sorted((raw or {}).items())[:MAX_LABELS]:
        value = value if isinstance(value, str) else str(value)
        labels[str(key)] = REDACTED if is_secret_name(str(key)) else redact_value(value[:500])
    return labels


def _image_digest(record):
    digest = record.get('ImageDigest')
    if digest:
        return digest
    digests = record.get('RepoDigests') or []
    return digests[0].split('@', 1)[-1] if digests else None


def _ports(raw):
    """[{host_ip, host_port, container_port, protocol}] of a podman/docker NetworkSettings.Ports mapping."""
    ports = []
    for key, bindings in sorted((raw or {}).items()):
        port, _sep, protocol = str(key).partition('/')
        for binding in bindings or []:
            try:
                ports.append({'host_ip': binding.get('HostIp') or '0.0.0.0', 'host_port': int(binding.get('HostPort')),
                              'container_port': int(port), 'protocol': protocol or 'tcp'})
            except (AttributeError, TypeError, ValueError):
                continue
    return ports


def _from_engine(runtime, record):
    """The context of a podman or docker inspect record."""
    config, host_config = record.get('Config') or {}, record.get('HostConfig') or {}
    network_mode = host_config.get('NetworkMode') or 'default'
    image = record.get('ImageName') or config.get('Image') or record.get('Image')
    return {
        'name': (record.get('Name') or '').lstrip('/') or None,
        'image': image,
        'image_id': record.get('Image'),
        'image_digest': _image_digest(record),
        'labels': _labels(config.get('Labels')),
        'network_mode': network_mode,
        'host_network': network_mode == 'host',
        'ports': _ports((record.get('NetworkSettings') or {}).get('Ports')),
        'mounts': [{'type': item.get('Type'), 'source': item.get('Source'), 'destination': item.get('Destination'),
                    'rw': bool(item.get('RW'))} for item in record.get('Mounts') or [] if isinstance(item, dict)],
        'restart_policy': (host_config.get('RestartPolicy') or {}).get('Name') or None,
    }


def _from_cri(record):
    """The context of a crictl inspect record (containerd, CRI-O): the pod network, ports not known here."""
    status = record.get('status') or {}
    info = record.get('info') or {}
    namespaces = ((info.get('runtimeSpec') or {}).get('linux') or {}).get('namespaces') or []
    has_netns = any(item.get('type') == 'network' and item.get('path') for item in namespaces if isinstance(item, dict))
    return {
        'name': (status.get('metadata') or {}).get('name'),
        'image': (status.get('image') or {}).get('image'),
        'image_id': status.get('imageRef'),
        'image_digest': (status.get('imageRef') or '').split('@', 1)[-1] if '@' in (status.get('imageRef') or '') else None,
        'labels': _labels(status.get('labels')),
        'network_mode': 'pod' if has_netns else 'host',
        'host_network': not has_netns,
        'ports': [],
        'mounts': [{'type': 'bind', 'source': item.get('hostPath'), 'destination': item.get('containerPath'),
                    'rw': not item.get('readonly')} for item in status.get('mounts') or [] if isinstance(item, dict)],
        'restart_policy': None,
    }


def context_of(runtime, container_id, rootless, record):
    """The container attribute of an asset (record None: the runtime could not say; only runtime and id are known)."""
    context = {'runtime': runtime, 'id': container_id, 'rootless': rootless, 'name': None, 'image': None,
               'image_id': None, 'image_digest': None, 'image_version': None, 'labels': {}, 'kubernetes': None,
               'network_mode': None, 'host_network': None, 'ports': None, 'mounts': None, 'restart_policy': None,
               'unit': None, 'inspected': record is not None}
    if record is not None:
        context.update(_from_engine(runtime, record) if runtime in ('podman', 'docker') else _from_cri(record))
        labels = context['labels']
        kube = dict((key, labels[label]) for key, label in K8S_LABELS.items() if labels.get(label))
        context['kubernetes'] = kube or None
        context['image_version'] = next((labels[name] for name in VERSION_LABELS if labels.get(name)), None)
        context['unit'] = labels.get('PODMAN_SYSTEMD_UNIT')
    return context


def _by_mapping(context):
    """True when the container's published ports are its only path in (asked, its own network, not a pod)."""
    return bool(context.get('inspected')) and not context.get('host_network') and context.get('network_mode') != 'pod'


def exposing_mappings(listeners, context):
    """The TCP mappings on a non-loopback host address to a port the server listens on beyond its own loopback
    (all listening ports when the listeners are unknown)."""
    reachable = None if listeners is None else set(item['port'] for item in listeners if not item['loopback'])
    return [item for item in published(context, reachable) if not is_loopback(item['host_ip'])]


def exposure(listeners, context):
    """(exposed, exposed_by) of a server in CONTEXT listening on LISTENERS (inside its namespace).

    exposed_by lists the paths in from the network: published mappings '<host ip>:<host port>-><container
    port>/tcp', or with host networking 'host network <addr>:<port>', or, in a Kubernetes pod or a container
    the runtime could not say about, 'container network <addr>:<port>' (its listeners decide). exposed is None
    when neither the listeners nor the mappings could be seen.
    """
    if _by_mapping(context):
        paths = ['%s:%d->%d/%s' % (item['host_ip'], item['host_port'], item['container_port'], item['protocol'])
                 for item in exposing_mappings(listeners, context)]
        return bool(paths), paths
    if listeners is None:
        return None, []
    where = 'host network' if context.get('inspected') and context.get('host_network') else 'container network'
    paths = ['%s %s:%d' % (where, item['address'], item['port']) for item in listeners if not item['loopback']]
    return bool(paths), paths


def exposing_evidence(pid, listeners, context):
    """Evidence items of the published mappings through which the server is reached from the network."""
    if not _by_mapping(context):
        return []
    return [{'type': 'socket', 'pid': pid, 'address': item['host_ip'], 'port': item['host_port'],
             'published_to': item['container_port'], 'container': context['name']}
            for item in exposing_mappings(listeners, context)]


def published(context, ports=None):
    """The TCP mappings of CONTEXT to the container PORTS (all when None)."""
    return [item for item in context.get('ports') or []
            if item['protocol'] == 'tcp' and (ports is None or item['container_port'] in ports)]


def probe_listeners(listeners, context):
    """Listeners on this host through which the HTTP probe reaches the server: its published host ports."""
    ports = set(item['port'] for item in listeners or [] if not item['loopback'])
    return [{'address': item['host_ip'], 'port': item['host_port'], 'loopback': is_loopback(item['host_ip'])}
            for item in published(context, ports)]


def host_path(context, path):
    """Where PATH (as the container sees it) is on the host, through the container's mounts; None when not mounted."""
    if not path or not path.startswith('/'):
        return None
    best = None
    for mount in context.get('mounts') or []:
        dest, source = (mount.get('destination') or '').rstrip('/'), mount.get('source')
        if not dest or not source or not (path == dest or path.startswith(dest + '/')):
            continue
        if best is None or len(dest) > len(best[0]):
            best = (dest, source)
    return None if best is None else best[1].rstrip('/') + path[len(best[0]):]


def model_stores(context):
    """(host directory, container path) of the mounts model files may be found under."""
    stores = []
    for mount in context.get('mounts') or []:
        source, dest = mount.get('source'), mount.get('destination')
        if source and dest and os.path.isabs(source) and os.path.normpath(source) not in NOT_MODEL_STORES \
                and os.path.normpath(dest) not in NOT_MODEL_STORES and os.path.isdir(source):
            stores.append((os.path.normpath(source), dest))
    return stores


def image_version(context):
    """(version text, source) the image states for its server, or (None, None): a version label, else the tag."""
    for name in VERSION_LABELS:
        if (context.get('labels') or {}).get(name):
            return context['labels'][name], 'image-label:%s' % name
    image = context.get('image') or ''
    tag = image.rsplit('/', 1)[-1].partition('@')[0].partition(':')[2]
    return (tag, 'image-tag:%s' % image) if tag and tag != 'latest' else (None, None)


class ContainerIndex(object):
    """The containers of one discovery run: pid -> container (cgroup), container -> context (runtime, asked once)."""

    def __init__(self, proc_root, enabled=True, timeout=container_runtime.TIMEOUT, binaries=None):
        self.proc_root, self.enabled, self.timeout, self.binaries = proc_root, enabled, timeout, binaries
        self._contexts, self._asked, self.problems = {}, set(), []
        self.serving = {}  # container id -> context, of containers a discovered server runs in

    def container_of(self, pid):
        return container_runtime.container_of_pid(self.proc_root, pid)

    def contexts(self, pids):
        """({pid: context} of those PIDS that run in a container, new problems); the runtime is asked once per run."""
        if not self.enabled:
            return {}, []
        owners = dict((pid, found) for pid, found in ((pid, self.container_of(pid)) for pid in pids) if found)
        before = len(self.problems)
        wanted = {}
        for runtime, container_id, rootless in owners.values():
            if container_id in self._asked:
                continue
            self._asked.add(container_id)
            if rootless:  # its state is the user's: root's runtime does not know it, and it is not run as them
                self._contexts[container_id] = context_of(runtime, container_id, True, None)
                self.problems.append('%s container %s is rootless (a user\'s): its runtime was not asked; no name, '
                                     'image or published ports' % (runtime, container_id[:12]))
                continue
            wanted.setdefault(runtime, []).append(container_id)
        for runtime, ids in sorted(wanted.items()):
            records, problems = container_runtime.inspect(runtime, ids, self.timeout, (self.binaries or {}).get(runtime))
            self.problems.extend(problems)
            for container_id in ids:
                self._contexts[container_id] = context_of(runtime, container_id, False, records.get(container_id))
        found = dict((pid, self._contexts[owner[1]]) for pid, owner in owners.items())
        return found, self.problems[before:]

    def ask(self, pids):
        """contexts(PIDS) in the background: an object whose result() is what contexts() returns."""
        return _Asking(self, pids)


class _Asking(object):
    """ContainerIndex.contexts(pids) run in a thread: the runtime's CLI is another process, so the caller reads
    /proc meanwhile. result() waits for it (the CLI's own timeout bounds the wait)."""

    def __init__(self, index, pids):
        self._index, self._pids, self._result, self._error = index, pids, ({}, []), None
        self._thread = threading.Thread(target=self._run, name='aigov-container-context', daemon=True)
        self._thread.start()

    def _run(self):
        try:
            self._result = self._index.contexts(self._pids)
        except Exception as exc:  # pylint: disable=broad-except  # handed to the caller's thread in result()
            self._error = exc

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result


def index_of(options):
    """The run's ContainerIndex, kept in OPTIONS so that every probe shares one (and the runtime is asked once)."""
    if '_containers' not in options:
        options['_containers'] = ContainerIndex(options.get('proc_root', '/proc'), options.get('container_context', False),
                                                options.get('container_timeout', container_runtime.TIMEOUT))
    return options['_containers']
