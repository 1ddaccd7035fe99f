# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of aigov.core.remediation_plan (docs: plugins/modules/remediation_plan.py)."""

from __future__ import annotations

import os
import re
import time

from ansible.errors import AnsibleActionFail
from ansible.module_utils.basic import env_fallback

from ansible_collections.aigov.core.plugins.module_utils import audit_log, guardrails, remediation
from ansible_collections.aigov.core.plugins.module_utils.asset_store import read_inventory
from ansible_collections.aigov.core.plugins.module_utils.asset_store_sqlite import open_store
from ansible_collections.aigov.core.plugins.plugin_utils.action import ControllerAction, aap_job, actor, plain
from ansible_collections.aigov.core.plugins.plugin_utils.data_files import resolve_data_file

_PLAIN = re.compile(r'^[A-Za-z0-9_.:\[\]-]{1,253}$')


def _asset_record(store, asset_id):
    if not asset_id or not os.path.exists(store):
        return None
    rows = read_inventory(open_store(store, create=False))['assets']
    return next((dict(row['record'], inventory_hostname=row['inventory_hostname']) for row in rows
                 if row['id'] == asset_id), None)


class ActionModule(ControllerAction):
    """Check that an alert's remediation may run and record its start (or its refusal)."""

    ARGUMENT_SPEC = dict(
        payload=dict(type='str', required=True),
        approval=dict(type='str'),
        actions=dict(type='dict'),
        store=dict(type='path', default='aigov-data/assets.sqlite3', fallback=(env_fallback, ['AIGOV_ASSET_STORE'])),
        guardrails=dict(type='str', default='default'),
        audit_log=dict(type='path', default=audit_log.DEFAULT_PATH, fallback=(env_fallback, [audit_log.ENV_PATH])),
    )

    def run_on_controller(self, args, task_vars, result):
        started = time.monotonic()
        event = remediation.decode_payload(args['payload'])
        policy = guardrails.load_guardrails(resolve_data_file('guardrail policy', args['guardrails'], os.getcwd()))
        audit_log.check_appendable(args['audit_log'])  # a start or a refusal the log cannot record is not made
        asset = event.get('asset') if isinstance(event.get('asset'), dict) else {}
        alert = event.get('alert') if isinstance(event.get('alert'), dict) else {}
        subject = str(asset.get('asset_id') or '')
        details = dict(aap_job(task_vars) or {}, fingerprint=str(alert.get('fingerprint') or '')[:64],
                       approval=args['approval'])
        try:
            found = remediation.plan(
                event, task_vars['groups']['all'], policy['limits']['max_hosts_per_action'],
                audit_log.iter_newest_first(args['audit_log']),
                actions=plain(args['actions']) if args['actions'] is not None else None, approval=args['approval'],
                asset_record=_asset_record(args['store'], subject))
        except remediation.RemediationRefused as refused:
            if not self._task.check_mode:
                audit_log.append(args['audit_log'], actor(task_vars), 'remediation.refused',
                                 subject if _PLAIN.match(subject) else 'unknown',
                                 (event.get('decision') or {}).get('accountable') if isinstance(event.get('decision'), dict) else None,
                                 'refused', [str(refused)], details)
            raise AnsibleActionFail('remediation refused: %s' % refused)
        if not self._task.check_mode:
            audit_log.append(args['audit_log'], actor(task_vars), 'remediation.start', found['asset_id'], found['owner'],
                             'planned', ['%s on %s for alert %s (decision %s)' % (
                                 found['remediation'], found['target'], found['fingerprint'], found['decision'])],
                             dict(details, remediation=found['remediation'], target=found['target'],
                                  decision=found['decision'], risk_tier=found['risk_tier'], starts_at=found['starts_at'],
                                  received_at=found['received_at'], plan_ms=round((time.monotonic() - started) * 1000, 1)))
        result.update(changed=False, plan=found, msg='%s on %s' % (found['remediation'], found['target']))
        return result
