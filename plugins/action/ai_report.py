# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of aigov.core.ai_report (docs: plugins/modules/ai_report.py)."""

from __future__ import annotations

import datetime
import os

from ansible.errors import AnsibleActionFail

from ansible_collections.aigov.core.plugins.module_utils.policy import frameworks
from ansible_collections.aigov.core.plugins.module_utils.common.atomic_write import write_atomically
from ansible_collections.aigov.core.plugins.module_utils.reports import report, report_history
from ansible_collections.aigov.core.plugins.plugin_utils.action import ControllerAction, plain

REQUIRED_CHECK_KEYS = ('summary', 'scope', 'policy_packs', 'registry', 'rules', 'findings', 'assets')


class ActionModule(ControllerAction):
    """Render an ai_policy_check result into report files on the controller."""

    ARGUMENT_SPEC = dict(
        check=dict(type='dict', required=True),
        dest=dict(type='path', required=True),
        formats=dict(type='list', elements='str', default=sorted(report.RENDERERS), choices=sorted(report.RENDERERS)),
        history_size=dict(type='int', default=report_history.DEFAULT_KEEP),
    )

    def run_on_controller(self, args, task_vars, result):
        check = plain(args['check'])
        missing = [key for key in REQUIRED_CHECK_KEYS if key not in check]
        if missing:
            raise AnsibleActionFail('check is not an aigov.core.ai_policy_check result (missing %s); '
                                    'pass the variable registered from that task' % ', '.join(missing))
        if args['history_size'] < 0:
            raise AnsibleActionFail('history_size must be 0 (keep no history) or more, got %d' % args['history_size'])
        dest = os.path.abspath(args['dest'])
        if os.path.exists(dest) and not os.path.isdir(dest):
            raise AnsibleActionFail("dest '%s' exists and is not a directory" % dest)
        generated_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')
        keep = args['history_size']
        history_path = os.path.join(dest, report_history.HISTORY_FILE) if keep else None
        result.update(changed=True, history=history_path, summary=check['summary'],
                      files=[os.path.join(dest, report.RENDERERS[fmt][0]) for fmt in args['formats']])
        matrix = frameworks.coverage(check.get('frameworks') or [], check['rules'])
        result['coverage'] = [dict([(key, entry[key]) for key in ('framework', 'name', 'version', 'covered', 'total')],
                                   uncovered=[c['id'] for c in entry['controls'] if not c['rules']]) for entry in matrix]
        result['coverage_lines'] = frameworks.coverage_lines(matrix)

        if self._task.check_mode:
            # Read-only: the trend this run would show, nothing written, no lock taken.
            past = report_history.read(history_path) if keep else []
            result['trend'] = report_history.bounded(past + [report_history.record(check, generated_at)], keep or 1)
            result['msg'] = 'report would be written to %s' % dest
            return result
        try:
            os.makedirs(dest, exist_ok=True)
        except OSError as exc:
            raise AnsibleActionFail("cannot create the report directory '%s': %s" % (dest, exc.strerror or exc))
        if keep:
            with report_history.locked(dest):
                trend = report_history.bounded(report_history.read(history_path)
                                               + [report_history.record(check, generated_at)], keep)
                self._write(dest, report.build_report(check, generated_at, trend), args['formats'])
                self._write_file(history_path, report_history.render(trend))
        else:
            trend = [report_history.record(check, generated_at)]
            self._write(dest, report.build_report(check, generated_at, trend), args['formats'])
        result.update(trend=trend, msg='report written to %s' % dest)
        return result

    def _write(self, dest, document, formats):
        for fmt in formats:
            name, render = report.RENDERERS[fmt]
            self._write_file(os.path.join(dest, name), render(document))

    @staticmethod
    def _write_file(path, text):
        try:
            write_atomically(path, text, 0o644)
        except OSError as exc:
            raise AnsibleActionFail("cannot write the report file '%s': %s" % (path, exc.strerror or exc))
