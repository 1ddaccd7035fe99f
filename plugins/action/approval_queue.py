# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of aigov.core.approval_queue (docs: plugins/modules/approval_queue.py)."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail

from ansible_collections.aigov.core.plugins.module_utils.alerts import approvals
from ansible_collections.aigov.core.plugins.module_utils.audit import decision_keys
from ansible_collections.aigov.core.plugins.module_utils.common import database, paths
from ansible_collections.aigov.core.plugins.plugin_utils.action import (
    AUDIT_LOG_OPTION, DECISION_KEY_OPTION, ControllerAction, aap_job, actor, plain)
from ansible_collections.aigov.core.plugins.plugin_utils.data_file_locator import load_action_table


class ActionModule(ControllerAction):
    """Queue a review for a human, or record the human's verdict; both audited."""

    ARGUMENT_SPEC = dict(
        state=dict(type='str', required=True, choices=['requested', 'decided', 'pending']),
        path=dict(type='path'),
        payload=dict(type='str'),
        actions=dict(type='raw', default='default'),
        request=dict(type='str'),
        verdict=dict(type='str', choices=list(approvals.VERDICTS)),
        approver=dict(type='str'),
        ttl=dict(type='int', default=approvals.APPROVAL_TTL),
        audit_log=AUDIT_LOG_OPTION,
        decision_key_file=DECISION_KEY_OPTION,
    )
    SHARED_PATHS = dict(path=paths.APPROVALS_QUEUE)
    REQUIRED_IF = [('state', 'requested', ('payload',)), ('state', 'decided', ('request', 'verdict', 'approver'))]

    def run_on_controller(self, args, task_vars, result):
        if args['ttl'] < 1:
            raise AnsibleActionFail('ttl must be a whole number of seconds of at least 1, got %d' % args['ttl'])
        if args['state'] == 'pending':  # read-only: the same in check mode
            found = approvals.listing(args['path'], args['ttl'])
            result.update(changed=False, pending=found, lines=[approvals.describe(item) for item in found],
                          msg='%d pending request(s) in %s%s' % (len(found), database.display(args['path']), ': decide one with -e request=<id> '
                                                                 '-e verdict=approve|deny -e approver=<name>' if found else ''))
            return result
        keyring, check = decision_keys.load(args['decision_key_file']), self._task.check_mode
        if args['state'] == 'requested':
            created, record = approvals.ensure_requested(
                args['path'], args['payload'], load_action_table(plain(args['actions'])), args['audit_log'],
                keyring, actor(task_vars), aap_job(task_vars), check_mode=check, ttl=args['ttl'])
            result.update(changed=created, request=record, msg='request %s %s' % (
                record['id'], ('queued' if created else 'was already queued') + (' (check mode)' if check else '')))
            return result
        found, verdict = approvals.ensure_decided(args['path'], args['request'], args['verdict'], args['approver'],
                                                  args['audit_log'], keyring, actor(task_vars), aap_job(task_vars),
                                                  check_mode=check, ttl=args['ttl'])
        result.update(changed=True, request=found, verdict=verdict, payload_b64=found['payload_b64'],
                      msg='request %s %s by %s%s' % (found['id'], 'approved' if args['verdict'] == 'approve' else 'denied',
                                                     args['approver'], ' (check mode)' if check else ''))
        return result
