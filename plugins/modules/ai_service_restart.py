#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ai_service_restart
short_description: Restart a model server or vector database through its service definition
version_added: 0.1.0
description:
  - Finds how a server is run, exactly as M(aigov.core.ai_service_harden) does (an entry of O(services) keyed by
    the asset id or name, else the container of its O(pids) or O(container), else the system unit of its O(pids),
    see O(start_times)), and runs its restart commands, without a shell.
  - A server in a container is restarted through its runtime (C(podman restart --time 10 <id>), C(docker restart),
    on a Kubernetes node C(crictl stop) for the kubelet to start it again) or the systemd unit that manages the
    container, run from a path only root can change; a server that is down is found by its O(container).
  - Fails when no service definition with a restart command is found, saying why (RV(problem)); nothing is run
    then.
  - It does not check that the server is back; the caller waits for its listener (the C(aigov.core.remediate)
    playbook waits on 127.0.0.1 from the host itself).
author:
  - aigov.core maintainers (@aigov)
extends_documentation_fragment:
  - aigov.core.service_target
attributes:
  check_mode:
    support: full
    description: Nothing is run; RV(restart_commands) says what would run.
  diff_mode:
    support: none
    description: No file is changed.
  platform:
    support: full
    platforms: linux
    description: Reads the Linux proc filesystem and systemd unit directories.
notes:
  - A server that is down has no process, so its systemd unit cannot be read from C(/proc); give it an entry in
    O(services) (or let systemd's C(Restart=) bring it back).
"""

EXAMPLES = r"""
- name: Restart the vLLM server started by a script
  aigov.core.ai_service_restart:
    name: vllm
    services:
      vllm: {env_file: /etc/default/vllm, restart_command: /usr/local/sbin/restart-vllm}
"""

RETURN = r"""
source:
  description: Where the definition came from, C(services), C(container) or C(systemd).
  returned: always
  type: str
unit:
  description: The systemd unit, when there is one.
  returned: always
  type: str
problem:
  description: Why no definition was found, e.g. a process outside C(system.slice) or a reused pid; else null.
  returned: always
  type: str
restart_commands:
  description: The commands (argv lists) run, or that would run in check mode.
  returned: always
  type: list
  elements: list
container:
  description: The container the server runs in (C(runtime), C(id), C(name), C(image), C(published)), when RV(source=container).
  returned: when the server runs in a container
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.remediation.service_config import SERVER_ARGSPEC, SERVER_REQUIRED_ONE_OF, locate, server_of


def main():
    module = AnsibleModule(
        argument_spec=SERVER_ARGSPEC,
        required_one_of=SERVER_REQUIRED_ONE_OF,
        supports_check_mode=True,
    )
    params = module.params
    server = server_of(params)
    label = params['asset_id'] or params['name'] or 'pids %s' % server['pids']
    try:
        location = locate(server, params['services'], params['proc_root'])
    except AigovError as exc:
        module.fail_json(msg=str(exc))
    result = dict(source=location['source'], unit=location['unit'], problem=location['problem'],
                  restart_commands=location['restart_commands'])
    if location.get('container'):
        result['container'] = location['container']
    if not location['restart_commands']:
        module.fail_json(msg='no restart command for %s: %s; nothing was run'
                             % (label, location['problem'] or 'its services entry has no restart_command'), **result)
    if module.check_mode:
        module.exit_json(changed=True, msg='%s would be restarted' % label, **result)
    for argv in location['restart_commands']:
        rc, _out, err = module.run_command(argv)
        if rc != 0:
            module.fail_json(msg='restarting %s: %s exited with %d: %s' % (label, argv[0], rc, err.strip()[-500:]),
                             rc=rc, **result)
    module.exit_json(changed=True, msg='%s restarted' % label, **result)


if __name__ == '__main__':
    main()
