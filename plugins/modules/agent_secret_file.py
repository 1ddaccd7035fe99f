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
  - Changed only when the content, mode or owner differ. The content is never returned, logged or put in a diff.
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
"""

EXAMPLES = r"""
- name: Write the agent's environment file
  aigov.core.agent_secret_file:
    path: /etc/rem-bot/env
    content: "AGENT_KEY={{ new_key }}\n"
    owner: rem-bot
    group: rem-bot
  no_log: true
"""

RETURN = r"""
path:
  description: The path written.
  returned: always
  type: str
"""

import grp
import pwd

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aigov.core.plugins.module_utils.host import safe_files
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
        ),
        required_one_of=[('content', 'src')],
        mutually_exclusive=[('content', 'src')],
        supports_check_mode=True,
    )
    params = module.params
    try:
        uid = _id(params['owner'], pwd.getpwnam, 'pw_uid', 'user')
        gid = _id(params['group'], grp.getgrnam, 'gr_gid', 'group')
        mode = parse_mode(params['mode'])(0)
        if params['src']:
            data = safe_files.read_text(params['src'], 'read').encode('utf-8', 'surrogateescape')
        else:
            data = params['content'].encode('utf-8')
        changed = safe_files.ensure_file(params['path'], data, mode, uid, gid, module.check_mode)
    except AigovError as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg='cannot write %s: %s' % (params['path'], exc.strerror or exc))
    module.exit_json(changed=changed, path=params['path'], msg='%s %s' % (params['path'], 'written' if changed else 'unchanged'))


if __name__ == '__main__':
    main()
