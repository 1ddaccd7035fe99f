#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: agent_secret_file
short_description: Write an agent's secret-bearing file on its host without acting through what a user controls
version_added: 0.2.0
description:
  - Makes O(path) a regular file holding O(content) (or the content of the host file O(src)) with O(mode) and
    O(owner)/O(group), as the C(agent_secret_rotation) role delivers an agent's environment file. The new content
    is written to a temp file created in the same directory and renamed over O(path), so the agent reads the old
    file or the new one, never a mix.
  - Unlike M(ansible.builtin.copy), which sets the owner and mode by path after the rename, nothing is done
    through a symlink or a directory that another user can change; in a directory of the agent's user the file
    is written as that user (and must be theirs).
  - Changed only when the content, mode or owner differ. The content is never logged or put in a diff, and
    returned only with O(return_value) (for a rollback's verification and backend restore).
  - With O(keep_previous), the file's old content is first kept at O(previous) (same owner, group and mode, created
    with C(O_EXCL)); a copy already there is never overwritten, as it is the last content known to work.
    O(state=restored) puts that copy back (a rollback that needs no secret backend), O(state=committed) removes it
    once the new content is verified. M(aigov.core.agent_secret_file_info) reports on both.
author:
  - aigov.core maintainers (@aigov)
options:
  path:
    description: Absolute path of the file.
    type: path
    required: true
  content:
    description: The file's content, a secret (never echoed).
    type: str
  src:
    description: Absolute path of a file on the host whose content to write (to keep or restore a copy of O(path)).
    type: path
  owner:
    description: The file's owner (name); default the current one, or the acting user for a new file.
    type: str
  group:
    description: The file's group (name); default as for O(owner).
    type: str
  mode:
    description: The file's mode, octal (quote it in YAML).
    type: str
    default: '0600'
  state:
    description:
      - C(present) writes O(content) or O(src) to O(path).
      - C(restored) makes O(path) hold the content, owner, group and mode of the kept copy O(previous) (which stays
        until committed); nothing happens when there is no kept copy (RV(previous_exists) is false).
      - C(committed) removes the kept copy.
    type: str
    choices: [present, restored, committed]
    default: present
  previous:
    description: Path of the kept copy of the previous content. Default O(path) followed by C(.aigov-previous).
    type: path
  keep_previous:
    description: With O(state=present), keep the old content at O(previous) before it is replaced, unless a copy is
      already there.
    type: bool
    default: false
  env_var:
    description: Variable of the secret in the file (C(NAME=value) lines), for RV(fingerprint) and RV(value).
    type: str
  return_value:
    description:
      - Return the value of O(env_var) in the file after the run as RV(value), and in the kept copy as
        RV(previous_value). These are secrets; give the task C(no_log). The role uses them to verify an agent after
        a rollback and to write its working value back to the backend without reading the backend.
    type: bool
    default: false
extends_documentation_fragment:
  - aigov.core.attributes.SAFE_FILES
attributes:
  check_mode:
    support: full
    description: Reports whether the file would change and writes nothing.
  diff_mode:
    support: none
    description: The file holds a secret.
seealso:
  - module: aigov.core.agent_secret
  - module: aigov.core.agent_secret_file_info
"""

EXAMPLES = r"""
- name: Write the agent's environment file
  aigov.core.agent_secret_file:
    path: /etc/rem-bot/env
    content: "AGENT_KEY={{ new_key }}\n"
    owner: rem-bot
    group: rem-bot
  no_log: true

- name: Deliver a new key, keeping the previous file on the host until the new key is verified
  aigov.core.agent_secret_file:
    path: /etc/rem-bot/env
    content: "AGENT_KEY={{ new_key }}\n"
    keep_previous: true
  no_log: true

- name: Roll back without the secret backend
  aigov.core.agent_secret_file:
    path: /etc/rem-bot/env
    state: restored
    env_var: AGENT_KEY
    return_value: true
  register: restored
  no_log: true
"""

RETURN = r"""
path:
  description: The path written.
  returned: always
  type: str
previous:
  description: The path of the kept copy.
  returned: always
  type: str
exists:
  description: Whether O(path) exists after the run.
  returned: always
  type: bool
previous_exists:
  description: Whether a kept copy exists after the run.
  returned: always
  type: bool
previous_kept:
  description: Whether this run kept a copy (O(keep_previous)).
  returned: always
  type: bool
on_previous:
  description: Whether the file holds exactly the kept copy's content (an agent rolled back, its backend not yet restored).
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
value:
  description: The value of O(env_var) in the file (a secret). Only with O(return_value=true).
  returned: when O(return_value=true)
  type: str
previous_value:
  description: The value of O(env_var) in the kept copy (a secret). Only with O(return_value=true).
  returned: when O(return_value=true)
  type: str
"""

import grp
import pwd

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aigov.core.plugins.module_utils.host import safe_files
from ansible_collections.aigov.core.plugins.module_utils.secrets import agent_secret_file
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.host.file_mode import parse_mode


def _id(name, lookup, attr, kind):
    if name is None:
        return -1
    try:
        return getattr(lookup(name), attr)
    except KeyError:
        raise AigovError('no %s named %s on this host' % (kind, name))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            content=dict(type='str', no_log=True),
            src=dict(type='path'),
            owner=dict(type='str'),
            group=dict(type='str'),
            mode=dict(type='str', default='0600'),
            state=dict(type='str', default='present', choices=list(agent_secret_file.STATES)),
            previous=dict(type='path'),
            keep_previous=dict(type='bool', default=False),
            env_var=dict(type='str'),
            return_value=dict(type='bool', default=False),
        ),
        required_if=[('state', 'present', ('content', 'src'), True)],
        mutually_exclusive=[('content', 'src')],
        supports_check_mode=True,
    )
    params = module.params
    try:
        uid = _id(params['owner'], pwd.getpwnam, 'pw_uid', 'user')
        gid = _id(params['group'], grp.getgrnam, 'gr_gid', 'group')
        mode = parse_mode(params['mode'])(0)
        data = None
        if params['state'] == 'present':
            if params['src']:
                data = safe_files.read_text(params['src'], 'read').encode('utf-8', 'surrogateescape')
            else:
                data = params['content'].encode('utf-8')
        changed, result = agent_secret_file.ensure(
            params['path'], params['state'], data, mode, uid, gid, params['previous'], params['keep_previous'],
            params['env_var'], params['return_value'], check_mode=module.check_mode)
    except AigovError as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg='cannot write %s: %s' % (params['path'], exc.strerror or exc))
    done = dict(present='written', restored='restored from its kept copy', committed='kept copy removed')
    module.exit_json(changed=changed, msg='%s %s' % (params['path'], done[params['state']] if changed else 'unchanged'), **result)


if __name__ == '__main__':
    main()
