#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ai_model_quarantine
short_description: Move a model file into quarantine, with a record to restore it
version_added: 0.1.0
description:
  - Moves a model file (an unapproved model, a pickle that runs code when loaded) out of the serving path into
    O(quarantine_dir), in a folder of its own (mode C(0700)) named after its content and original path, as
    mode C(0600), next to C(record.json) holding the original path, sha256, size, owner, group, mode, the time
    and the rules and findings that asked for it.
  - Idempotent. A path that no longer exists is recognised by its record (RV(state=already_quarantined)) or
    reported as RV(state=absent); neither is a change.
  - Symlinks and other non-regular files are refused, and so is a file whose content is not O(sha256) when
    given (it changed since the scan).
  - To restore a file, move RV(quarantined_as) back to C(record.original_path) and set the recorded owner and mode.
  - Used by the M(aigov.core.ai_baseline) role for the C(quarantine_model_file) remediation.
author:
  - aigov.core maintainers (@aigov)
options:
  path:
    description: Absolute path of the model file.
    type: path
    required: true
  quarantine_dir:
    description: Directory holding quarantined files, created with mode C(0700) if missing. Keep it outside the discovery's artifact roots.
    type: path
    default: /var/lib/aigov/quarantine
  sha256:
    description: The digest the scan reported; the file is not moved if its content differs.
    type: str
  rule_ids:
    description: Rules that asked for the quarantine, kept in the record.
    type: list
    elements: str
    default: []
  finding_ids:
    description: Findings that asked for the quarantine, kept in the record.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - aigov.core.attributes.SAFE_FILES
attributes:
  check_mode:
    support: full
    description: In check mode nothing moves; the result says what would.
  diff_mode:
    support: full
    description: The file's state before (present) and after (absent, and where it went).
seealso:
  - module: aigov.core.ai_asset_facts
"""

EXAMPLES = r"""
- name: Quarantine a poisoned pickle
  aigov.core.ai_model_quarantine:
    path: /srv/models/poisoned.pkl
    rule_ids: [AIGOV-MA-001]
"""

RETURN = r"""
path:
  description: The original path.
  returned: always
  type: str
state:
  description: C(quarantined) (moved now, or would be in check mode), C(already_quarantined) or C(absent).
  returned: always
  type: str
quarantined_as:
  description: Where the file is (or would be) kept; null when absent without a record.
  returned: always
  type: str
record:
  description: The quarantine record (original_path, quarantined_as, sha256, size, uid, owner, gid, group, mode, time, rule_ids, finding_ids).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.remediation.quarantine import quarantine


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            quarantine_dir=dict(type='path', default='/var/lib/aigov/quarantine'),
            sha256=dict(type='str'),
            rule_ids=dict(type='list', elements='str', default=[]),
            finding_ids=dict(type='list', elements='str', default=[]),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        changed, result = quarantine(params['path'], params['quarantine_dir'], params['rule_ids'], params['finding_ids'],
                                     params['sha256'], module.check_mode)
    except AigovError as exc:
        module.fail_json(msg=str(exc))
    if changed and module._diff:
        result['diff'] = {'before': {'path': params['path'], 'state': 'present', 'sha256': result['record']['sha256']},
                          'after': {'path': params['path'], 'state': 'absent', 'quarantined_as': result['quarantined_as']}}
    module.exit_json(changed=changed, msg='%s: %s' % (params['path'], result['state']), **result)


if __name__ == '__main__':
    main()
