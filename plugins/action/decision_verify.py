# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of aigov.core.decision_verify (docs: plugins/modules/decision_verify.py)."""

from __future__ import annotations

from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, decision_keys
from ansible_collections.aigov.core.plugins.module_utils.remediation import remediation
from ansible_collections.aigov.core.plugins.plugin_utils.action import AUDIT_LOG_OPTION, DECISION_KEY_OPTION, ControllerAction


class ActionModule(ControllerAction):
    """Fail unless the event source recorded and sealed the decision of this payload."""

    ARGUMENT_SPEC = dict(
        payload=dict(type='str', required=True),
        decision=dict(type='str', choices=['automate', 'review', 'escalate', 'reject']),
        audit_log=AUDIT_LOG_OPTION,
        decision_key_file=DECISION_KEY_OPTION,
    )

    def run_on_controller(self, args, task_vars, result):
        event, entry = remediation.verify_decision(args['payload'], audit_log.iter_newest_first(args['audit_log']),
                                                   decision_keys.load(args['decision_key_file']), args['decision'])
        decision, seq = event['decision'].get('decision'), entry['seq']
        result.update(changed=False, decision=decision, seq=seq, event=remediation.escalation_notice(event),
                      msg='decision %s recorded and sealed at seq %d' % (decision, seq))
        return result
