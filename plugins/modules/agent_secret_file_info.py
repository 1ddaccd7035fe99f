#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: agent_secret_file_info
short_description: Report on an agent's secret-bearing file and the copy of its previous content kept next to it
version_added: 0.2.0
description:
  - Reports whether the agent's file O(path) and the kept copy of its previous content O(previous) (written by
    M(aigov.core.agent_secret_file) with O(aigov.core.agent_secret_file#module:keep_previous)) exist, whether the
    file holds exactly the kept content, and the fingerprints of the secret O(env_var) in each. Never a value.
  - The C(agent_secret_rotation) role calls it before each agent, so an earlier run that rolled the agent back
    without restoring the backend (file equal to the kept copy) or was killed before verifying (a kept copy that
    differs) is finished first.
author:
  - aigov.core maintainers (@aigov)
options:
  path:
    description: Absolute path of the agent's file.
    type: path
    required: true
  previous:
    description: Path of the kept copy. Default O(path) followed by C(.aigov-previous).
    type: path
  env_var:
    description: Variable of the secret in the files (C(NAME=value) lines), for RV(fingerprint) and RV(previous_fingerprint).
    type: str
extends_documentation_fragment:
  - aigov.core.attributes.SAFE_FILES
attributes:
  check_mode:
    support: full
    description: Reads only, in check mode as otherwise.
  diff_mode:
    support: none
    description: Nothing changes.
seealso:
  - module: aigov.core.agent_secret_file
"""

EXAMPLES = r"""
- name: Is a rollback of the agent still waiting for its backend?
  aigov.core.agent_secret_file_info:
    path: /etc/rem-bot/env
    env_var: AGENT_KEY
  register: agent_file
"""

RETURN = r"""
path:
  description: The agent's file.
  returned: always
  type: str
previous:
  description: The kept copy's path.
  returned: always
  type: str
exists:
  description: Whether O(path) exists.
  returned: always
  type: bool
previous_exists:
  description: Whether the kept copy exists.
  returned: always
  type: bool
on_previous:
  description: Whether the file holds exactly the kept copy's content.
  returned: always
  type: bool
fingerprint:
  description: C(hmac-sha256:) fingerprint (the collection's default key) of O(env_var)'s value in the file; null without one.
  returned: always
  type: str
previous_fingerprint:
  description: The same for the kept copy.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.secrets import agent_secret_file


def main():
    module = AnsibleModule(
        argument_spec=dict(path=dict(type='path', required=True), previous=dict(type='path'), env_var=dict(type='str')),
        supports_check_mode=True,
    )
    params = module.params
    try:
        result = agent_secret_file.info(params['path'], params['previous'], params['env_var'])
    except AigovError as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg='cannot read %s: %s' % (params['path'], exc.strerror or exc))
    result.pop('previous_kept', None)
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
