#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ai_service_harden
short_description: Rebind a model server or vector database to loopback, or turn its dev mode off, in its service definition
version_added: 0.1.0
description:
  - Finds where a running server is configured and edits that configuration. It does not restart the server;
    it returns RV(restart_commands) for the caller (the M(aigov.core.ai_baseline) role runs them only when a
    file changed, and only when disruptive remediations are allowed).
  - "How the definition is found: first an entry of O(services) keyed by the asset id or name (C(env_file) or
    C(files), and C(restart_command)); else systemd: the system unit of the server's O(pids) (see
    O(start_times)), its unit file (or template), drop-ins and their C(EnvironmentFile=) files. Unit files are
    edited only under C(/etc) and C(/run); a vendor unit elsewhere is listed in RV(unedited) (override it with a
    drop-in). When nothing is found, RV(source) is C(none), RV(problem) says why, and nothing changes."
  - C(bind_loopback) replaces a wildcard bind address (C(0.0.0.0), C(::), C([::]), C(*)) after a host flag
    (C(--host), C(--bind), C(--listen), C(--address), C(--ip), C(--http-host), C(--bind-address)) or in a
    variable whose name ends in HOST, BIND, ADDR, ADDRESS or LISTEN (C(OLLAMA_HOST=0.0.0.0:11434)) with C(127.0.0.1).
  - C(disable_dev_mode) removes the server's dev-mode variables O(dev_mode) (C(VLLM_SERVER_DEV_MODE)) from env
    files and from C(Environment=) lines.
  - Diffs are redacted (API keys next to the bind address are replaced by C(<redacted>)).
  - "A server in a container (see O(container)) is rebound through its runtime: a podman container whose ports are
    published on a non-loopback address is re-created from its own create command with each of those ports published
    on C(127.0.0.1) (same host and container port), started, and checked through podman; the old container is stopped
    and set aside first, removed once the new one runs, and put back if the new one fails. RV(republished) records the
    mappings before and after; the create command (which may hold secrets) is never returned. A container published on
    loopback only is left alone (not changed). Docker, Kubernetes and unit-managed (quadlet) containers, containers
    with host networking or C(-P), and C(disable_dev_mode) on a container are refused with the reason: their definition
    lives elsewhere. The re-creation runs podman with the module's environment (its C(CONTAINERS_CONF))."
author:
  - aigov.core maintainers (@aigov)
options:
  fix:
    description: The edit to make.
    type: str
    choices: [bind_loopback, disable_dev_mode]
    required: true
  dev_mode:
    description: Names of the dev-mode variables that are on, as discovery reported them.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - aigov.core.service_target
attributes:
  check_mode:
    support: full
    description: Nothing is written; RV(changed_files) and the diff say what would change.
  diff_mode:
    support: full
    description: One redacted diff per changed file.
  platform:
    support: full
    platforms: linux
    description: Reads the Linux proc filesystem and systemd unit directories.
"""

EXAMPLES = r"""
- name: Rebind the vLLM server configured by an env file
  aigov.core.ai_service_harden:
    fix: bind_loopback
    name: vllm
    services:
      vllm: {env_file: /etc/default/vllm, restart_command: /usr/local/sbin/restart-vllm}
"""

RETURN = r"""
source:
  description: Where the definition came from, C(services), C(container), C(systemd) or C(none).
  returned: always
  type: str
unit:
  description: The systemd unit, when there is one.
  returned: always
  type: str
problem:
  description: Why no definition was found (RV(source=none)), e.g. a process outside C(system.slice); else null.
  returned: always
  type: str
files:
  description: The files looked at.
  returned: always
  type: list
  elements: str
unedited:
  description: Files of the definition that are not edited (vendor unit files).
  returned: always
  type: list
  elements: str
changed_files:
  description: The files changed (or that would change in check mode).
  returned: always
  type: list
  elements: str
restart_commands:
  description: Commands (argv lists) that restart the server so that the change takes effect (none for a container,
    which is re-created).
  returned: always
  type: list
  elements: list
container:
  description: The container the server runs in (C(runtime), C(id), C(name), C(image), C(published)), when RV(source=container).
  returned: when the server runs in a container
  type: dict
republished:
  description: >-
    What the container rebind did: C(container) (runtime, id and name of the container now), C(published_before) and
    C(published_after) (mappings C(<host ip>:<host port>-><container port>/tcp)), C(replaced) (the id of the container
    re-created, null when nothing was done or in check mode).
  returned: when the server runs in a container
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.remediation.container_rebind import ensure_loopback
from ansible_collections.aigov.core.plugins.module_utils.remediation.service_config import (
    FIXES, SERVER_ARGSPEC, SERVER_REQUIRED_ONE_OF, apply_fix, locate, server_of)


def _container_rebind(module, server, location):
    """The result of bind_loopback on a server in a container: its published ports re-created on loopback."""
    if module.params['fix'] != 'bind_loopback':
        raise AigovError('%s runs in %s container %s: turn its dev mode off in the container\'s definition; nothing done'
                         % (server['name'] or server['asset_id'], location['container']['runtime'], location['key']))
    changed, republished = ensure_loopback(location, module.check_mode)
    result = dict(location)
    result.update(changed=changed, changed_files=[], restart_commands=[], republished=republished,
                  msg='bind_loopback: container %s %s' % (location['key'], 'published on 127.0.0.1' if changed
                                                          else 'already published on loopback only'))
    if changed and module._diff:
        result['diff'] = [{'before': '\n'.join(republished['published_before']) + '\n',
                           'after': '\n'.join(republished['published_after']) + '\n',
                           'before_header': 'container %s published ports' % location['key'],
                           'after_header': 'container %s published ports' % location['key']}]
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            SERVER_ARGSPEC,
            fix=dict(type='str', choices=sorted(FIXES), required=True),
            dev_mode=dict(type='list', elements='str', default=[]),
        ),
        required_one_of=SERVER_REQUIRED_ONE_OF,
        supports_check_mode=True,
    )
    params = module.params
    server = server_of(params, dev_mode=params['dev_mode'])
    try:
        location = locate(server, params['services'], params['proc_root'])
        if location['source'] == 'container':
            module.exit_json(**_container_rebind(module, server, location))
        changed_files, diffs = apply_fix(params['fix'], server, location, module.check_mode)
    except AigovError as exc:
        module.fail_json(msg=str(exc))
    if location['source'] == 'none':
        module.warn('no service definition found for %s (%s; set aigov_baseline_services)'
                    % (params['asset_id'] or params['name'] or 'pids %s' % server['pids'], location['problem']))
    result = dict(location, changed_files=changed_files)
    if changed_files and module._diff:
        result['diff'] = diffs
    module.exit_json(changed=bool(changed_files), msg='%s: %d file(s) changed' % (params['fix'], len(changed_files)), **result)


if __name__ == '__main__':
    main()
