#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ai_agent_quarantine
short_description: Stop an AI agent through its service definition and record it as quarantined, or release it
version_added: 0.1.0
description:
  - With O(state=quarantined), finds how the agent is run, as M(aigov.core.ai_service_restart) does (an entry of
    O(services) keyed by the asset id or name with a C(stop_command), else the system unit of its O(pids), see
    O(start_times)), runs its stop commands without a shell, waits until every one of O(pids) is gone, and
    writes a record
    C(<record_dir>/<agent>.json) (mode C(0600)) with the time, the reason, the stop commands and the commands that
    start it again.
  - With O(state=released), runs the commands of the record to start the agent again and removes the record.
  - This module does not touch the agent's credential. The C(aigov.core.remediate) playbook revokes it afterwards
    with M(aigov.core.agent_secret) (a new version that is never delivered).
author:
  - aigov.core maintainers (@aigov)
extends_documentation_fragment:
  - aigov.core.service_target
options:
  agent:
    description: The agent's name (as in the secret backend and the rotation role); names the record.
    type: str
    required: true
  state:
    description: C(quarantined) stops the agent and records it; C(released) starts it again and removes the record.
    type: str
    choices: [quarantined, released]
    default: quarantined
  reason:
    description: Why, kept in the record.
    type: str
  record_dir:
    description: Directory of the quarantine records.
    type: path
    default: /var/lib/aigov/quarantine/agents
  timeout:
    description: Seconds to wait for the agent's processes to exit after the stop command.
    type: int
    default: 30
attributes:
  check_mode:
    support: full
    description: Nothing is run or written; RV(stop_commands) and RV(record) say what would be.
  diff_mode:
    support: none
    description: The record is returned instead.
  platform:
    support: full
    platforms: linux
    description: Reads the Linux proc filesystem and systemd unit directories.
notes:
  - Idempotent. An agent whose record says C(quarantined) and none of whose O(pids) runs is not changed.
  - A pid of O(pids) that is another process now (another start time than O(start_times) records) is refused,
    and nothing is stopped.
"""

EXAMPLES = r"""
- name: Quarantine the support agent
  aigov.core.ai_agent_quarantine:
    agent: support-bot
    name: letta
    pids: [2211]
    start_times: {"2211": 81234567}
    reason: alert AgentCompromised
    services:
      letta: {env_file: /etc/support-bot/env, stop_command: /usr/local/bin/support-bot-stop,
              restart_command: /usr/local/bin/support-bot-start}

- name: Release it
  aigov.core.ai_agent_quarantine:
    agent: support-bot
    state: released
"""

RETURN = r"""
record_path:
  description: Path of the quarantine record.
  returned: always
  type: str
record:
  description: The record (C(agent), C(asset_id), C(state), C(time), C(reason), C(stopped_pids), C(stop_commands), C(release_commands)).
  returned: always
  type: dict
stop_commands:
  description: The stop commands (argv lists) run, or that would run in check mode.
  returned: with state=quarantined
  type: list
  elements: list
running:
  description: The agent's pids still running (empty after a quarantine).
  returned: with state=quarantined
  type: list
  elements: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aigov.core.plugins.module_utils.remediation import agent_quarantine
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.remediation.process_stop import start_times
from ansible_collections.aigov.core.plugins.module_utils.remediation.service_config import SERVER_ARGSPEC, locate, server_of


def main():
    module = AnsibleModule(
        argument_spec=dict(
            SERVER_ARGSPEC,
            agent=dict(type='str', required=True),
            state=dict(type='str', choices=list(agent_quarantine.STATES), default='quarantined'),
            reason=dict(type='str'),
            record_dir=dict(type='path', default='/var/lib/aigov/quarantine/agents'),
            timeout=dict(type='int', default=30),
        ),
        supports_check_mode=True,
    )
    params = module.params

    def run(argv):
        rc, _out, err = module.run_command(argv)
        return rc, err

    try:
        if params['state'] == 'released':
            changed, result = agent_quarantine.release(run, params['agent'], params['record_dir'], module.check_mode)
        else:
            server = server_of(params)
            changed, result = agent_quarantine.quarantine(
                run, params['agent'], params['asset_id'], server['pids'], start_times(server['start_times']),
                locate(server, params['services'], params['proc_root']), params['record_dir'], params['reason'],
                params['timeout'], params['proc_root'], module.check_mode)
    except AigovError as exc:
        module.fail_json(msg=str(exc))
    verb = params['state'] if changed else 'already ' + params['state']
    if module.check_mode and changed:
        verb = 'would be ' + verb
    module.exit_json(changed=changed, msg='agent %s %s' % (params['agent'], verb), **result)


if __name__ == '__main__':
    main()
