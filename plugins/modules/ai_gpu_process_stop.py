#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ai_gpu_process_stop
short_description: Stop a runaway GPU compute process, after checking it is one
version_added: 0.1.0
description:
  - Checks that O(pid) is still the process discovery saw (O(start_time)), a compute process that C(nvidia-smi)
    lists on GPU O(gpu_uuid) now, and not one of O(protected_pids); then sends it C(SIGTERM), waits O(timeout)
    seconds, and sends C(SIGKILL) if it still runs. Fails unless the process is gone at the end.
  - The process is identified by its pid and its start time. A pid with another start time is a process the
    kernel gave the pid to later; the module fails and signals nothing. The signals go through a pidfd opened
    before the check, so they never reach a later process with that pid.
  - A pid that no longer exists is not a change (RV(state=absent)).
author:
  - aigov.core maintainers (@aigov)
options:
  pid:
    description: The process id. Validated as a whole number and against the GPU's process list.
    type: int
    required: true
  gpu_uuid:
    description: UUID of the GPU (C(GPU-...)) the process must be running on, as discovery reported it.
    type: str
    required: true
  start_time:
    description:
      - The process's start time as discovery recorded it (C(start_time) of the GPU asset's process; field 22 of
        C(/proc/<pid>/stat), clock ticks since boot). Required, because a pid alone may name a later process.
    type: int
    required: true
  protected_pids:
    description: Process ids never signalled (the model servers and vector databases of the host).
    type: list
    elements: int
    default: []
  timeout:
    description: Seconds to wait after C(SIGTERM) before C(SIGKILL).
    type: int
    default: 10
  nvidia_smi:
    description: Path of C(nvidia-smi); searched on E(PATH) and the usual directories when not set.
    type: path
  proc_root:
    description: The proc filesystem.
    type: path
    default: /proc
attributes:
  check_mode:
    support: full
    description: Checks everything and signals nothing.
  diff_mode:
    support: none
    description: No file is changed.
  platform:
    support: full
    platforms: linux
    description: Reads the Linux proc filesystem and runs C(nvidia-smi).
seealso:
  - module: aigov.core.ai_asset_facts
"""

EXAMPLES = r"""
- name: Stop the runaway training job on GPU 0
  aigov.core.ai_gpu_process_stop:
    pid: 4242
    start_time: 81234567
    gpu_uuid: GPU-5e1d2c3b-aaaa-bbbb-cccc-000000000001
    protected_pids: [1337]
    timeout: 30
"""

RETURN = r"""
pid:
  description: The process id.
  returned: always
  type: int
gpu_uuid:
  description: The GPU.
  returned: always
  type: str
process_name:
  description: The process name C(nvidia-smi) reported.
  returned: when the process was found on the GPU
  type: str
state:
  description: C(stopped) (stopped now, or would be in check mode) or C(absent) (it was already gone).
  returned: always
  type: str
signals:
  description: The signals sent, in order (C(SIGTERM), then C(SIGKILL) if needed).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.remediation.gpu_process import stop_gpu_process


def main():
    module = AnsibleModule(
        argument_spec=dict(
            pid=dict(type='int', required=True),
            gpu_uuid=dict(type='str', required=True),
            start_time=dict(type='int', required=True),
            protected_pids=dict(type='list', elements='int', default=[]),
            timeout=dict(type='int', default=10),
            nvidia_smi=dict(type='path'),
            proc_root=dict(type='path', default='/proc'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        changed, result = stop_gpu_process(params['pid'], params['gpu_uuid'], params['start_time'], params['protected_pids'],
                                           params['nvidia_smi'], params['timeout'], params['proc_root'], module.check_mode)
    except AigovError as exc:
        module.fail_json(msg=str(exc), pid=params['pid'], gpu_uuid=params['gpu_uuid'])
    verb = 'would be stopped' if module.check_mode and changed else 'stopped' if changed else 'was already gone'
    module.exit_json(changed=changed, msg='pid %d on %s %s' % (params['pid'], params['gpu_uuid'], verb), **result)


if __name__ == '__main__':
    main()
