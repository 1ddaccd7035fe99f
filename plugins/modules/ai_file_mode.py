#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ai_file_mode
short_description: Set a file's permission bits without acting through what a user controls
version_added: 0.2.0
description:
  - Sets the permission bits of an existing regular file (a model file, a credential file) to O(mode), by
    descriptor, as the C(ai_baseline) role's C(fix_model_file_mode) and C(restrict_credential_file) remediations
    do. Unlike M(ansible.builtin.file), it never follows a symlink a user can change, so a file swapped for a
    symlink to C(/etc/shadow) after discovery read it is refused, not changed.
  - Idempotent; a file already at the mode is not a change.
author:
  - aigov.core maintainers (@aigov)
options:
  path:
    description: Absolute path of the file.
    type: path
    required: true
  mode:
    description:
      - The permission bits. An octal string (V(0600)) or comma-separated clauses of who (C(u), C(g), C(o), C(a)),
        an operator (C(+), C(-), C(=)) and permissions (C(r), C(w), C(x)), e.g. V(o-w) or V(u=rw,go=).
      - Quote an octal mode in YAML; an integer is taken as the mode's value (YAML reads V(0600) as 384 = C(0o600)).
    type: raw
    required: true
extends_documentation_fragment:
  - aigov.core.attributes.SAFE_FILES
attributes:
  check_mode:
    support: full
    description: Reports the mode the file would get and changes nothing.
  diff_mode:
    support: full
    description: The mode before and after.
seealso:
  - module: ansible.builtin.file
"""

EXAMPLES = r"""
- name: Remove write access for others from a model file
  aigov.core.ai_file_mode:
    path: /srv/models/llama.gguf
    mode: o-w

- name: Make a credential file readable by its owner only
  aigov.core.ai_file_mode:
    path: /home/alice/app/.env
    mode: "0600"
"""

RETURN = r"""
path:
  description: The path given.
  returned: always
  type: str
mode:
  description: The mode the file has (or would have in check mode), four octal digits.
  returned: always
  type: str
  sample: "0600"
previous_mode:
  description: The mode the file had.
  returned: always
  type: str
  sample: "0644"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.host.file_mode import ensure_mode


def main():
    module = AnsibleModule(
        argument_spec=dict(path=dict(type='path', required=True), mode=dict(type='raw', required=True)),
        supports_check_mode=True,
    )
    try:
        changed, result = ensure_mode(module.params['path'], module.params['mode'], module.check_mode)
    except AigovError as exc:
        module.fail_json(msg=str(exc))
    if changed and module._diff:
        result['diff'] = {'before': {'mode': result['previous_mode']}, 'after': {'mode': result['mode']}}
    module.exit_json(changed=changed, msg='%s: mode %s' % (result['path'], result['mode']), **result)


if __name__ == '__main__':
    main()
