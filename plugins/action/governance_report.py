# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of aigov.core.governance_report (docs: plugins/modules/governance_report.py)."""

from __future__ import annotations

import json
import os

from ansible.errors import AnsibleActionFail

from ansible_collections.aigov.core.plugins.module_utils.audit import decision_keys, governance_html, governance_kpis
from ansible_collections.aigov.core.plugins.module_utils.common.atomic_write import write_atomically
from ansible_collections.aigov.core.plugins.plugin_utils.action import (
    AUDIT_ANCHOR_OPTION, AUDIT_LOG_OPTION, DECISION_KEY_OPTION, ControllerAction)

FILES = (('governance-report.json', lambda report: json.dumps(report, indent=2, sort_keys=True) + '\n'),
         ('governance-report.html', governance_html.render_html))


class ActionModule(ControllerAction):
    """Compute the governance KPIs from the audit log; write them as JSON and HTML when dest is given."""

    ARGUMENT_SPEC = dict(
        audit_log=AUDIT_LOG_OPTION,
        since=dict(type='str'),
        until=dict(type='str'),
        group_by=dict(type='str', choices=list(governance_kpis.GROUP_BY)),
        anchor=AUDIT_ANCHOR_OPTION,
        decision_key_file=DECISION_KEY_OPTION,
        dest=dict(type='path'),
        untrusted=dict(type='str', default='fail', choices=['fail', 'warn']),
    )

    def run_on_controller(self, args, task_vars, result):
        keyring = decision_keys.load(args['decision_key_file']) if args['decision_key_file'] else None
        report = governance_kpis.compute(args['audit_log'], args['since'], args['until'], args['group_by'], args['anchor'],
                                         keyring=keyring)
        dest = os.path.abspath(args['dest']) if args['dest'] else None
        files = [os.path.join(dest, name) for name, _render in FILES] if dest else []
        result.update(report, changed=bool(files), files=files)
        if dest and os.path.exists(dest) and not os.path.isdir(dest):
            raise AnsibleActionFail("dest '%s' exists and is not a directory" % dest)
        if dest and not self._task.check_mode:
            try:
                os.makedirs(dest, exist_ok=True)
                for (_name, render), path in zip(FILES, files):
                    write_atomically(path, render(report), 0o644)
            except OSError as exc:
                raise AnsibleActionFail("cannot write the governance report to '%s': %s" % (dest, exc.strerror or exc))
        where = (' (check mode: nothing written)' if self._task.check_mode else ', written to %s' % dest) if dest else ''
        if report['trusted']:
            result['msg'] = 'governance KPIs of %d audit entries%s' % (report['log']['in_window'], where)
            return result
        if report['chain']['state'] == 'unanchored':
            message = ('the audit log %s is UNANCHORED: its chain holds as far as it goes, but without an anchor entries cut '
                       'from its end cannot be detected; its KPIs are not called trustworthy (give anchor)%s' % (args['audit_log'], where))
            result.update(msg=message, warnings=[message])
            return result
        problem = report['chain']['problem']
        message = ('the audit log %s is not intact (%s: %s): its KPIs are UNTRUSTWORTHY%s'
                   % (args['audit_log'], problem['kind'], problem['message'], where))
        if args['untrusted'] == 'fail':
            result.update(failed=True, msg=message)
        else:
            result.update(msg=message, warnings=[message])
        return result
