# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of aigov.core.audit_append (docs: plugins/modules/audit_append.py)."""

from __future__ import annotations

from ansible_collections.aigov.core.plugins.module_utils.common import paths
from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log
from ansible_collections.aigov.core.plugins.plugin_utils.action import ControllerAction, aap_job, actor, plain


class ActionModule(ControllerAction):
    """Append one entry to the hash-chained audit log (fsync before the task returns)."""

    ARGUMENT_SPEC = dict(
        path=dict(type='path'),
        actor=dict(type='str'),
        action=dict(type='str', required=True),
        subject=dict(type='str', required=True),
        owner=dict(type='str'),
        outcome=dict(type='str', required=True, choices=list(audit_log.OUTCOMES)),
        reasons=dict(type='list', elements='str', default=[]),
        details=dict(type='dict', default={}),
    )
    SHARED_PATHS = dict(path=paths.AUDIT_LOG)

    def run_on_controller(self, args, task_vars, result):
        if self._task.check_mode:
            result.update(changed=False, msg='check mode: %s not recorded' % args['action'])
            return result
        details = dict(aap_job(task_vars) or {}, **plain(args['details']))
        entry = audit_log.append(args['path'], args['actor'] or actor(task_vars), args['action'], args['subject'],
                                 args['owner'], args['outcome'], args['reasons'], details)
        result.update(changed=True, entry=entry, msg='audit log %s: seq %d %s %s' % (
            args['path'], entry['seq'], entry['action'], entry['outcome']))
        return result
