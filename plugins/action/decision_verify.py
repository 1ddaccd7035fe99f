# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of aigov.core.decision_verify (docs: plugins/modules/decision_verify.py)."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail

from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, decision_keys
from ansible_collections.aigov.core.plugins.module_utils.remediation import remediation
from ansible_collections.aigov.core.plugins.plugin_utils.action import AUDIT_LOG_OPTION, DECISION_KEY_OPTION, ControllerAction


class ActionModule(ControllerAction):
    """Fail unless the event source recorded and sealed the decision of this payload."""

    ARGUMENT_SPEC = dict(
        payload=dict(type='str', required=True),
        audit_log=AUDIT_LOG_OPTION,
        decision_key_file=DECISION_KEY_OPTION,
    )

    def run_on_controller(self, args, task_vars, result):
        event = remediation.decode_payload(args['payload'])
        if not all(isinstance(event.get(key), dict) for key in ('alert', 'asset', 'decision', 'meta')):
            raise AnsibleActionFail('the payload is not an aiops_alerts event (alert, asset, decision, meta)')
        found = remediation.find_records(audit_log.iter_newest_first(args['audit_log']), event,
                                         remediation.payload_digest(args['payload']), decision_keys.load(args['decision_key_file']))
        if found['decision'] is None:
            raise AnsibleActionFail('the decision of this payload is not in the audit log with a valid seal%s: the event did '
                                    'not come from the event source' % (
                                        ' (%s)' % found['forged_decision'] if found['forged_decision'] else ''))
        decision, seq = found['decision']['details']['decision'], found['decision']['seq']
        result.update(changed=False, decision=decision, seq=seq, msg='decision %s recorded and sealed at seq %d' % (decision, seq))
        return result
