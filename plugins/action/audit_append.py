# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of aigov.core.audit_append (docs: plugins/modules/audit_append.py)."""

from __future__ import annotations

from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, entries
from ansible_collections.aigov.core.plugins.module_utils.common import paths
from ansible_collections.aigov.core.plugins.plugin_utils.action import ControllerAction, aap_job, actor, plain


class ActionModule(ControllerAction):
    """Append one entry to the hash-chained audit log (fsync before the task returns)."""

    ARGUMENT_SPEC = dict(
        path=dict(type='path'),
        kind=dict(type='str', choices=sorted(entries.PLAYBOOK_KINDS)),
        fields=dict(type='dict'),
        actor=dict(type='str'),
        action=dict(type='str'),
        subject=dict(type='str'),
        owner=dict(type='str'),
        outcome=dict(type='str', choices=list(audit_log.OUTCOMES)),
        reasons=dict(type='list', elements='str', default=[]),
        details=dict(type='dict', default={}),
    )
    SHARED_PATHS = dict(path=paths.AUDIT_LOG)
    MUTUALLY_EXCLUSIVE = [('kind', 'action'), ('kind', 'subject'), ('kind', 'outcome'), ('kind', 'owner')]
    REQUIRED_ONE_OF = [('kind', 'action')]
    REQUIRED_IF = [('kind', 'remediation.outcome', ('fields',)), ('kind', 'escalation.notify', ('fields',))]

    def run_on_controller(self, args, task_vars, result):
        run_by, jobs = args['actor'] or actor(task_vars), aap_job(task_vars)
        if args['kind']:
            record = entries.build(args['kind'], plain(args['fields']), run_by, jobs)
        else:
            if args['action'] in entries.KINDS:
                raise entries.EntryError('action %s is an entry kind of the alert loop: record it with kind and fields '
                                         '(playbook kinds: %s) or through its module' % (
                                             args['action'], ', '.join(sorted(entries.PLAYBOOK_KINDS))))
            missing = [key for key in ('subject', 'outcome') if not args[key]]
            if missing:
                raise entries.EntryError('action %s needs %s' % (args['action'], ' and '.join(missing)))
            record = dict(actor=run_by, action=args['action'], subject=args['subject'], owner=args['owner'],
                          outcome=args['outcome'], reasons=args['reasons'], details=dict(jobs or {}, **plain(args['details'])))
        if self._task.check_mode:
            entry = audit_log.predict(args['path'], **record)
            result.update(changed=True, entry=entry, msg='check mode: audit log %s would get seq %d %s %s' % (
                args['path'], entry['seq'], entry['action'], entry['outcome']))
            return result
        entry = audit_log.append(args['path'], **record)
        result.update(changed=True, entry=entry, msg='audit log %s: seq %d %s %s' % (
            args['path'], entry['seq'], entry['action'], entry['outcome']))
        return result
