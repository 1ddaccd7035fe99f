#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ai_model_rollback
short_description: Roll a served model file back to its last approved version
version_added: 0.1.0
description:
  - Computes the sha256 of the model file a server serves (O(path); a symlink is followed only when root owns it
    and only root can change its directory). When it
    is one of O(approved_models), nothing changes.
  - Otherwise looks for a kept copy of an approved model, newest approval first (the last entry of
    O(approved_models) is the newest), at the model's C(path) or at C(<keep_dir>/<sha256>), and uses the first
    whose content has the approved digest. A copy whose digest differs is reported and never used.
  - The approved copy, read through the descriptor that was hashed, is written to a temp file created (O_EXCL)
    beside the served file and verified through its own descriptor, then renamed over it (readers see the old
    or the new file, never a mix); the replaced file is moved to O(quarantine_dir) with a record naming the
    served path, as M(aigov.core.ai_model_quarantine) does.
  - With O(model_signatures.required), a copy is used only when the OpenSSF model signature beside it (C(COPY.sig), or
    C(model.sig) in its directory) verifies with one of O(model_signatures.signers) and lists the digest just hashed; a
    copy that is unsigned, changed since signing or signed by another signer is refused, and the failure message says
    which and why (docs/model-provenance.md).
  - Fails, changing nothing, when no approved digest is known or no verified copy exists.
  - It does not restart the server; the C(aigov.core.remediate) playbook does (M(aigov.core.ai_service_restart)).
author:
  - aigov.core maintainers (@aigov)
options:
  path:
    description: The model file the server loads (absolute; the server's model argument).
    type: path
    required: true
  approved_models:
    description: The approved models, in approval order (the registry's C(approved_models) of the use case).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The model's name.
        type: str
        required: true
      sha256:
        description: The approved sha256 (64 lower-case hex digits).
        type: str
        required: true
      path:
        description: Absolute path of a kept copy of the approved file on this host.
        type: path
  keep_dir:
    description: Directory of kept copies of approved files, each named after its sha256.
    type: path
    default: /var/lib/aigov/approved-models
  quarantine_dir:
    description: Where the replaced file is quarantined.
    type: path
    default: /var/lib/aigov/quarantine
  model_signatures:
    description: What the signature of a copy must satisfy (the C(model_signatures) of the remediation plan, from the
      registry's C(require_signed_models), C(trusted_signers) and C(model_signers) of the use case).
    type: dict
    default: {}
    suboptions:
      required:
        description: Refuse a copy without a valid signature by one of O(model_signatures.signers).
        type: bool
        default: false
      signers:
        description: The trusted signers, as the O(aigov.core.ai_asset_facts#module:model_signers) option takes them.
        type: list
        elements: dict
        default: []
extends_documentation_fragment:
  - aigov.core.attributes.SAFE_FILES
attributes:
  check_mode:
    support: full
    description: Verifies the approved copy and changes nothing.
  diff_mode:
    support: full
    description: The served file's digest before and after.
seealso:
  - module: aigov.core.ai_model_quarantine
  - module: aigov.core.ai_service_restart
"""

EXAMPLES = r"""
- name: Serve the last approved Llama again
  aigov.core.ai_model_rollback:
    path: /srv/models/current.gguf
    approved_models:
      - {name: llama-3.1-8b-q4, sha256: 8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4}
      - {name: llama-3.1-8b-q5, sha256: 3f79bb7b435b05321651daefd374cdc681dc06faa65e374e38337b88ca046dea,
         path: /srv/approved/llama-3.1-8b-q5.gguf}
"""

RETURN = r"""
path:
  description: The served path.
  returned: always
  type: str
file:
  description: The file switched (the served path with symlinks resolved).
  returned: always
  type: str
previous_sha256:
  description: The digest served before.
  returned: always
  type: str
sha256:
  description: The digest served now (or after the switch, in check mode).
  returned: always
  type: str
approved_name:
  description: The approved model served now.
  returned: always
  type: str
restored_from:
  description: The kept copy restored.
  returned: when changed
  type: str
quarantined_as:
  description: Where the replaced file was moved.
  returned: when changed (not in check mode)
  type: str
signature:
  description: The verified signature of the restored copy (as C(attributes.signature) of discovery), when signatures
    are required; null otherwise.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.provenance.signers import parse_signers
from ansible_collections.aigov.core.plugins.module_utils.remediation.model_rollback import rollback
from ansible_collections.aigov.core.plugins.module_utils.store.registry import SHA256


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            approved_models=dict(type='list', elements='dict', required=True, options=dict(
                name=dict(type='str', required=True),
                sha256=dict(type='str', required=True),
                path=dict(type='path'),
            )),
            keep_dir=dict(type='path', default='/var/lib/aigov/approved-models'),
            quarantine_dir=dict(type='path', default='/var/lib/aigov/quarantine'),
            model_signatures=dict(type='dict', default={}, options=dict(
                required=dict(type='bool', default=False),
                signers=dict(type='list', elements='dict', default=[]),
            )),
        ),
        supports_check_mode=True,
    )
    params = module.params
    wrong = [model['sha256'] for model in params['approved_models'] if not SHA256.match(model['sha256'])]
    if wrong:
        module.fail_json(msg='approved_models: sha256 must be 64 lower-case hex digits, got %s' % ', '.join(wrong))
    try:
        parse_signers(params['model_signatures']['signers'], 'model_signatures.signers')
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    try:
        changed, result = rollback(params['path'], params['approved_models'], params['keep_dir'], params['quarantine_dir'],
                                   module.check_mode, params['model_signatures'])
    except AigovError as exc:
        module.fail_json(msg=str(exc))
    if changed:
        result['diff'] = {'before_header': '%s (sha256)' % params['path'], 'after_header': '%s (sha256)' % params['path'],
                          'before': '%s\n' % result['previous_sha256'],
                          'after': '%s  %s (from %s)\n' % (result['sha256'], result['approved_name'], result['restored_from'])}
    module.exit_json(changed=changed, msg='%s %s approved model %s' % (
        params['path'], 'would serve' if module.check_mode and changed else 'serves', result['approved_name']), **result)


if __name__ == '__main__':
    main()
