# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of aigov.core.approval_queue (docs: plugins/modules/approval_queue.py)."""

from __future__ import annotations

from ansible_collections.aigov.core.plugins.module_utils.alerts import approvals
from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, decision_keys
from ansible_collections.aigov.core.plugins.module_utils.common import paths
from ansible_collections.aigov.core.plugins.module_utils.remediation import actions, remediation
from ansible_collections.aigov.core.plugins.plugin_utils.action import (
    AUDIT_LOG_OPTION, DECISION_KEY_OPTION, ControllerAction, aap_job, actor, plain)
from ansible_collections.aigov.core.plugins.plugin_utils.data_file_locator import load_action_table


class ActionModule(ControllerAction):
    """Queue a review for a human, or record the human's verdict; both audited."""

    ARGUMENT_SPEC = dict(
        state=dict(type='str', required=True, choices=['requested', 'decided']),
        path=dict(type='path'),
        payload=dict(type='str'),
        actions=dict(type='raw', default='default'),
        request=dict(type='str'),
        verdict=dict(type='str', choices=list(approvals.VERDICTS)),
        approver=dict(type='str'),
        audit_log=AUDIT_LOG_OPTION,
        decision_key_file=DECISION_KEY_OPTION,
    )
    SHARED_PATHS = dict(path=paths.APPROVALS_QUEUE)
    REQUIRED_IF = [('state', 'requested', ('payload',)), ('state', 'decided', ('request', 'verdict', 'approver'))]

    def run_on_controller(self, args, task_vars, result):
        for _option, state, keys in self.REQUIRED_IF:
            missing = [key for key in keys if args['state'] == state and not args[key]]
            if missing:
                raise approvals.ApprovalError('state %s needs %s' % (state, ', '.join(missing)))
        keyring = decision_keys.load(args['decision_key_file'])
        audit_log.check_appendable(args['audit_log'])  # nothing is queued or decided that the log cannot record
        if self._task.check_mode:
            result.update(changed=False, msg='check mode: nothing queued or decided')
            return result
        jobs = aap_job(task_vars) or {}
        if args['state'] == 'requested':
            event = remediation.decode_payload(args['payload'])
            if not all(isinstance(event.get(key), dict) for key in ('alert', 'asset', 'decision', 'meta')) \
                    or event['decision'].get('decision') != 'review':
                raise approvals.ApprovalError('only a review decision is queued for approval')
            found = remediation.find_records(audit_log.iter_newest_first(args['audit_log']), event,
                                             remediation.payload_digest(args['payload']), keyring)
            if found['decision'] is None:
                raise approvals.ApprovalError('the review decision is not in the audit log with a valid seal%s: the event '
                                              'did not come from the event source; nothing queued' % (
                                                  ' (%s)' % found['forged_decision'] if found['forged_decision'] else ''))
            proposed = actions.proposed_remediation(load_action_table(plain(args['actions'])), event)
            created, record = approvals.request(args['path'], dict(event, payload_b64=args['payload']), proposed)
            if created:
                audit_log.append(args['audit_log'], actor(task_vars), 'approval.requested', record['asset_id'] or 'unknown',
                                 record['owner'], 'planned', ['review decision: %s waits for a human verdict'
                                                              % (proposed or 'no mapped remediation')],
                                 dict(jobs, request=record['id'], fingerprint=audit_log.recordable(record['fingerprint']),
                                      proposed_action=proposed, queue=args['path'],
                                      payload_sha256=remediation.payload_digest(args['payload'])))
            result.update(changed=created, request=record, msg='request %s %s' % (
                record['id'], 'queued' if created else 'was already queued'))
            return result
        found, verdict = approvals.decide(args['path'], args['request'], args['verdict'], args['approver'])
        override = args['verdict'] == 'deny'  # the human differs from the proposed remediation
        audit_log.append(args['audit_log'], **keyring.seal(dict(
            actor=args['approver'], action=remediation.APPROVAL_ACTION, subject=found['asset_id'] or 'unknown',
            owner=found['owner'], outcome='success' if args['verdict'] == 'approve' else 'refused',
            reasons=['%s %s %s (proposed: %s)' % (args['approver'], 'approved' if not override else 'denied',
                                                  found['proposed_action'], found['decision'])],
            details=dict(jobs, request=found['id'], verdict=args['verdict'], fingerprint=audit_log.recordable(found['fingerprint']),
                         proposed_decision=found['decision'], proposed_action=found['proposed_action'],
                         override=override, run_by=actor(task_vars),
                         payload_sha256=remediation.payload_digest(found['payload_b64'])))))
        result.update(changed=True, request=found, verdict=verdict, payload_b64=found['payload_b64'],
                      msg='request %s %s by %s' % (found['id'], 'approved' if not override else 'denied', args['approver']))
        return result
