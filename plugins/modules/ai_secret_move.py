#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ai_secret_move
short_description: Move plaintext AI keys out of a .env file or MCP config into 0600 secret files
version_added: 0.1.0
description:
  - In a C(.env) file, the line C(NAME=value) becomes C(NAME_FILE=<secret file>), the C(_FILE) convention of
    container images and many SDK wrappers. An application that does not read C(NAME_FILE) must be told to
    load the file; that is why the baseline rule is a choice, not a default, for applications you do not control.
  - In an MCP client config (Claude, Cursor, VS Code, Windsurf, Gemini), the server's C(env) entry is removed
    and its command is wrapped in C(/bin/sh -c) that reads the secret file into the variable and execs the
    original command, so the server still gets its key and the config holds none. Remote servers (a secret in
    C(headers)) cannot be wrapped and are listed in RV(problems).
  - Secret files are written with mode C(0600), owned like the source file, under O(secret_dir) (mode C(0700)).
    A secret file that exists with a different value is never overwritten; the task fails instead.
  - The value is never returned, logged or shown in a diff (it is replaced by C(<redacted>)); no option
    carries it. It is idempotent, as a moved key is a C(NAME_FILE) reference or gone, so a second run changes nothing.
author:
  - aigov.core maintainers (@aigov)
options:
  path:
    description: Absolute path of the C(.env) file or MCP client config.
    type: path
    required: true
  format:
    description: C(env_file) (dotenv or shell assignments) or C(mcp_config) (JSON).
    type: str
    choices: [env_file, mcp_config]
    required: true
  variables:
    description: Names of the variables to move. Empty moves every AI-provider key and every secret-looking name.
    type: list
    elements: str
    default: []
  secret_dir:
    description: Directory for the secret files. Defaults to C(.aigov-secrets) next to O(path).
    type: path
extends_documentation_fragment:
  - aigov.core.attributes.SAFE_FILES
attributes:
  check_mode:
    support: full
    description: Nothing is written; the result and diff say what would change.
  diff_mode:
    support: full
    description: The file before and after, with every secret value redacted.
"""

EXAMPLES = r"""
- name: Move the OpenAI key out of an agent's .env
  aigov.core.ai_secret_move:
    path: /srv/agent/.env
    format: env_file
    variables: [OPENAI_API_KEY]
"""

RETURN = r"""
path:
  description: The file.
  returned: always
  type: str
secret_dir:
  description: Where the secret files are.
  returned: always
  type: str
moved:
  description: One entry per moved key (variable, server for MCP configs, secret_file); never the value.
  returned: always
  type: list
  elements: dict
problems:
  description: Keys that could not be moved, and why.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.remediation.secret_move import FORMATS, move_secrets


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            format=dict(type='str', choices=list(FORMATS), required=True),
            variables=dict(type='list', elements='str', default=[]),
            secret_dir=dict(type='path', no_log=False),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        changed, result, diff = move_secrets(params['path'], params['format'], params['variables'], params['secret_dir'],
                                             module.check_mode)
    except AigovError as exc:
        module.fail_json(msg=str(exc))
    for problem in result['problems']:
        module.warn(problem)
    if diff and module._diff:
        result['diff'] = diff
    module.exit_json(changed=changed, msg='%d key(s) moved out of %s' % (len(result['moved']), params['path']), **result)


if __name__ == '__main__':
    main()
