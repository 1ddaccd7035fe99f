# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of aigov.core.audit_verify (docs: plugins/modules/audit_verify.py)."""

from __future__ import annotations

from ansible_collections.aigov.core.plugins.module_utils.common import paths
from ansible_collections.aigov.core.plugins.module_utils.audit import decision_keys
from ansible_collections.aigov.core.plugins.module_utils.audit.audit_verify import verify
from ansible_collections.aigov.core.plugins.plugin_utils.action import AUDIT_ANCHOR_OPTION, DECISION_KEY_OPTION, ControllerAction


class ActionModule(ControllerAction):
    """Verify the hash chain of the audit log; fail naming the first broken entry."""

    ARGUMENT_SPEC = dict(
        path=dict(type='path'),
        anchor=AUDIT_ANCHOR_OPTION,
        decision_key_file=DECISION_KEY_OPTION,
    )
    SHARED_PATHS = dict(path=paths.AUDIT_LOG)

    def run_on_controller(self, args, task_vars, result):
        keyring = decision_keys.load(args['decision_key_file']) if args['decision_key_file'] else None
        checked = verify(args['path'], args['anchor'], keyring)
        result.update(changed=False, **checked)
        if checked['ok']:
            result['anchor'] = dict(seq=checked['last_seq'], hash=checked['last_hash']) if checked['last_seq'] else None
            seals = ('' if keyring is None else ', %d seals hold' % checked['sealed'])
            if checked['state'] == 'intact':
                result['msg'] = 'audit log %s: %d entries, chain intact, holding anchor seq %d%s' % (
                    checked['path'], checked['entries'], args['anchor']['seq'], seals)
            else:
                result['msg'] = ('audit log %s: %d entries, chain intact as far as it goes%s, UNANCHORED: without an anchor, '
                                 'entries cut from its end cannot be detected; keep the returned anchor outside the log and '
                                 'pass it next time' % (checked['path'], checked['entries'], seals))
        else:
            result['failed'] = True
            result['msg'] = 'audit log %s is not intact (%s): %s' % (
                checked['path'], checked['problem']['kind'], checked['problem']['message'])
        return result
