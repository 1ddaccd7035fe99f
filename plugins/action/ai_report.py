# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of aigov.core.ai_report (docs: plugins/modules/ai_report.py)."""

from __future__ import annotations

import datetime
import os

from ansible.errors import AnsibleActionFail

from ansible_collections.aigov.core.plugins.module_utils import report
from ansible_collections.aigov.core.plugins.plugin_utils.action import ControllerAction, plain

REQUIRED_CHECK_KEYS = ('summary', 'scope', 'policy_packs', 'registry', 'rules', 'findings', 'assets')


class ActionModule(ControllerAction):
    """Render an ai_policy_check result into report files on the controller."""

    ARGUMENT_SPEC = dict(
        check=dict(type='dict', required=True),
        dest=dict(type='path', required=True),
        formats=dict(type='list', elements='str', default=['json'], choices=sorted(report.RENDERERS)),
    )

    def run_on_controller(self, args, task_vars, result):
        check = plain(args['check'])
        missing = [key for key in REQUIRED_CHECK_KEYS if key not in check]
        if missing:
            raise AnsibleActionFail('check is not an aigov.core.ai_policy_check result (missing %s); '
                                    'pass the variable registered from that task' % ', '.join(missing))
        dest = os.path.abspath(args['dest'])
        if os.path.exists(dest) and not os.path.isdir(dest):
            raise AnsibleActionFail("dest '%s' exists and is not a directory" % dest)
        generated_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')
        document = report.build_report(check, generated_at)

        files = []
        for fmt in args['formats']:
            name, render = report.RENDERERS[fmt]
            files.append((os.path.join(dest, name), render(document)))
        result.update(changed=bool(files), files=[path for path, _text in files], summary=document['summary'],
                      msg='report written to %s' % dest)
        if self._task.check_mode:
            result['msg'] = 'report would be written to %s' % dest
            return result
        try:
            os.makedirs(dest, exist_ok=True)
            for path, text in files:
                report.write_atomic(path, text)
        except OSError as exc:
            raise AnsibleActionFail("cannot write the report to '%s': %s" % (dest, exc.strerror or exc))
        return result
