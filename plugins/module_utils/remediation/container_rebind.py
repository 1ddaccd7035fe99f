# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rebind a containerised server to loopback: re-create its podman container with its ports published
on 127.0.0.1 (container_target.py says why and how the create command is rewritten).

ensure_loopback() returns (changed, result): result names the container before and after and
its published mappings before and after (what an audit entry records), never its create
command. It is idempotent (nothing published beyond loopback: nothing done), predicts its
result in check mode, and verifies the new container's mappings through the runtime.
"""

from __future__ import annotations

import subprocess

from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.common.redaction import redact_text
from ansible_collections.aigov.core.plugins.module_utils.discovery.containers import context_of
from ansible_collections.aigov.core.plugins.module_utils.host import container_runtime
from ansible_collections.aigov.core.plugins.module_utils.host.procfs import is_loopback
from ansible_collections.aigov.core.plugins.module_utils.remediation.container_target import (
    ASIDE, STOP_TIME, inspect_one, mapping_texts, rewrite_create_command)

RUN_TIMEOUT = 120


def _run(binary, args, what):
    """stdout of `binary args`; AigovError (its stderr redacted) when it fails or overruns."""
    try:
        code, out, err = container_runtime.run([binary] + args, RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AigovError('%s: podman did not finish within %ds' % (what, RUN_TIMEOUT))
    except OSError as exc:
        raise AigovError('%s: cannot run %s (%s)' % (what, binary, exc.strerror))
    if code != 0:
        raise AigovError('%s: podman exited with %d: %s' % (what, code, redact_text(err.strip()[-300:])))
    return out


def _exists(binary, ref):
    try:
        return container_runtime.run([binary, 'container', 'exists', ref], 30)[0] == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _image_names(record):
    names = set(filter(None, [record.get('ImageName'), (record.get('Config') or {}).get('Image'), record.get('Image')]))
    for name in list(names):
        for prefix in ('localhost/', 'docker.io/library/', 'docker.io/'):
            if name.startswith(prefix):
                names.add(name[len(prefix):])
    return names


def _recreate(binary, argv, verb, old_id, name, original):
    """Stop the old container, set it aside, create the new one; put the old one back if that fails."""
    _run(binary, ['stop', '--time', str(STOP_TIME), old_id], 'stopping container %s' % name)
    aside = name + ASIDE
    kept = _exists(binary, old_id)  # a --rm container is gone once stopped
    if kept:
        _run(binary, ['rename', old_id, aside], 'setting container %s aside' % name)
    try:
        new_id = _run(binary, argv, 're-creating container %s on loopback' % name).strip().splitlines()[-1:]
        if verb == 'create':
            _run(binary, ['start', name], 'starting the re-created container %s' % name)
    except AigovError as exc:
        if _exists(binary, name):
            container_runtime.run([binary, 'rm', '--force', '--time', '0', name], 60)
        if kept:
            container_runtime.run([binary, 'rename', old_id, name], 30)
            container_runtime.run([binary, 'start', old_id], 60)
        else:
            container_runtime.run([binary] + original[1:], RUN_TIMEOUT)
        raise AigovError('%s; the old container was put back' % exc)
    if kept:
        _run(binary, ['rm', '--force', '--time', '0', old_id], 'removing the replaced container %s' % aside)
    return new_id[0] if new_id else None


def ensure_loopback(location, check_mode=False, binaries=None):
    """(changed, result) of publishing the located container's ports on 127.0.0.1 only."""
    found = location.get('container') or {}
    runtime, container_id = found.get('runtime'), found.get('id')
    if runtime != 'podman':
        raise AigovError('%s cannot change the ports a container publishes, and aigov.core re-creates only podman '
                         'containers: publish it on 127.0.0.1 in its definition (compose file, manifest); nothing done'
                         % runtime)
    if location.get('unit'):
        raise AigovError('container %s is managed by unit %s: publish it on 127.0.0.1 in that unit\'s definition '
                         '(PublishPort= of its quadlet file); nothing done' % (found.get('name'), location['unit']))
    record = inspect_one(runtime, container_id, binaries)
    context = context_of(runtime, container_id, False, record)
    before = context['ports'] or []
    result = {'container': {'runtime': runtime, 'id': container_id, 'name': context['name']},
              'published_before': mapping_texts(before), 'published_after': mapping_texts(before), 'replaced': None}
    if context['host_network']:
        raise AigovError('container %s uses host networking: no published port decides its exposure; rebind the '
                         'server\'s own address instead; nothing done' % context['name'])
    if all(is_loopback(item['host_ip']) for item in before):
        return False, result
    after = [dict(item, host_ip=item['host_ip'] if is_loopback(item['host_ip']) else '127.0.0.1') for item in before]
    result['published_after'] = mapping_texts(after)
    original = (record.get('Config') or {}).get('CreateCommand') or []
    argv, verb = rewrite_create_command(original, _image_names(record), context['name'])
    if check_mode:
        return True, result
    binary, why = container_runtime.trusted_binary(runtime, binaries)
    if binary is None:
        raise AigovError('podman is not run: %s' % why)
    new_id = _recreate(binary, argv, verb, container_id, context['name'], original)
    now = context_of(runtime, new_id, False, inspect_one(runtime, new_id, binaries)) if new_id else None
    if now is None or not all(is_loopback(item['host_ip']) for item in now['ports'] or []):
        raise AigovError('container %s was re-created, but podman does not show its ports on loopback only (%s)'
                         % (context['name'], ', '.join(mapping_texts((now or {}).get('ports') or [])) or 'no answer'))
    result['container'] = {'runtime': runtime, 'id': new_id, 'name': now['name']}
    result['published_after'] = mapping_texts(now['ports'])
    result['replaced'] = container_id
    return True, result
