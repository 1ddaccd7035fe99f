# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of aigov.core.audit_verify (docs: plugins/modules/audit_verify.py)."""

from __future__ import annotations

from ansible.module_utils.basic import env_fallback

from ansible_collections.aigov.core.plugins.module_utils import audit_log
from ansible_collections.aigov.core.plugins.module_utils.audit_verify import verify
from ansible_collections.aigov.core.plugins.plugin_utils.action import AUDIT_ANCHOR_OPTION, ControllerAction


class ActionModule(ControllerAction):
    """Verify the hash chain of the audit log; fail naming the first broken entry."""

    ARGUMENT_SPEC = dict(
        path=dict(type='path', default=audit_log.DEFAULT_PATH, fallback=(env_fallback, [audit_log.ENV_PATH])),
        anchor=AUDIT_ANCHOR_OPTION,
    )

    def run_on_controller(self, args, task_vars, result):
        checked = verify(args['path'], args['anchor'])
        result.update(changed=False, **checked)
        if checked['ok']:
            result['anchor'] = dict(seq=checked['last_seq'], hash=checked['last_hash']) if checked['last_seq'] else None
            result['msg'] = 'audit log %s: %d entries, chain intact' % (checked['path'], checked['entries'])
        else:
            result['failed'] = True
            result['msg'] = 'audit log %s is not intact (%s): %s' % (
                checked['path'], checked['problem']['kind'], checked['problem']['message'])
        return result
