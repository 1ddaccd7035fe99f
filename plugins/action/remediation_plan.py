# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of aigov.core.remediation_plan (docs: plugins/modules/remediation_plan.py)."""

from __future__ import annotations

import itertools
import os
import re
import time

from ansible.errors import AnsibleActionFail
from ansible.module_utils.basic import env_fallback
from ansible.module_utils.errors import AnsibleFallbackNotFound

from ansible_collections.aigov.core.plugins.module_utils.alerts import aap_approval, guardrails
from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, decision_keys
from ansible_collections.aigov.core.plugins.module_utils.remediation import remediation
from ansible_collections.aigov.core.plugins.module_utils.store import registry
from ansible_collections.aigov.core.plugins.module_utils.store.asset_store import read_inventory
from ansible_collections.aigov.core.plugins.module_utils.store.asset_store_sqlite import open_store
from ansible_collections.aigov.core.plugins.plugin_utils.action import (
    AUDIT_LOG_OPTION, DECISION_KEY_OPTION, ControllerAction, aap_job, actor, plain)
from ansible_collections.aigov.core.plugins.plugin_utils.data_files import load_action_table, resolve_data_file


def _env_set(*names):
    """The first of these environment variables that is set and not empty.

    AWX's "Red Hat Ansible Automation Platform" credential injects every field, the ones left
    empty as empty strings: with only a token, CONTROLLER_USERNAME is '' and must not count.
    """
    for name in names:
        if os.environ.get(name):
            return os.environ[name]
    raise AnsibleFallbackNotFound


_PLAIN = re.compile(r'^[A-Za-z0-9_.:\[\]-]{1,253}$')
# Set by AAP on a job a workflow launched (tower_* on older controllers).
_WORKFLOW_VARS = (('awx_workflow_job_id', 'awx_job_id'), ('tower_workflow_job_id', 'tower_job_id'))


_SERVERS = ('model_server', 'vector_db')


def _store_view(store, asset_id):
    """(the asset's record, pids of the servers on its host) from the asset store."""
    if not asset_id or not os.path.exists(store):
        return None, []
    rows = read_inventory(open_store(store, create=False))['assets']
    record = next((dict(row['record'], inventory_hostname=row['inventory_hostname']) for row in rows
                   if row['id'] == asset_id), None)
    if record is None:
        return None, []
    servers = [pid for row in rows if row['inventory_hostname'] == record['inventory_hostname']
               and row['record'].get('kind') in _SERVERS
               for pid in (row['record'].get('attributes') or {}).get('pids') or [] if isinstance(pid, int)]
    return record, servers


def _approved_models(reg, record):
    """The approved models of the use case the registry matches the asset to (none when it matches none)."""
    if record is None:
        return []
    use_case = registry.match(reg, record)['use_case']
    return next((list(item.get('approved_models') or []) for item in reg['use_cases'] if item['id'] == use_case), [])


class ActionModule(ControllerAction):
    """Check that an alert's remediation may run and record its start (or its refusal)."""

    ARGUMENT_SPEC = dict(
        payload=dict(type='str', required=True),
        approval=dict(type='str'),
        actions=dict(type='raw', default='default'),
        store=dict(type='path', default='aigov-data/assets.sqlite3', fallback=(env_fallback, ['AIGOV_ASSET_STORE'])),
        guardrails=dict(type='str', default='default'),
        registry=dict(type='str', default='default'),
        audit_log=AUDIT_LOG_OPTION,
        decision_key_file=DECISION_KEY_OPTION,
        controller_host=dict(type='str', fallback=(_env_set, ['CONTROLLER_HOST', 'TOWER_HOST'])),
        controller_oauthtoken=dict(type='str', no_log=True, fallback=(_env_set, ['CONTROLLER_OAUTH_TOKEN', 'TOWER_OAUTH_TOKEN'])),
        controller_username=dict(type='str', fallback=(_env_set, ['CONTROLLER_USERNAME', 'TOWER_USERNAME'])),
        controller_password=dict(type='str', no_log=True, fallback=(_env_set, ['CONTROLLER_PASSWORD', 'TOWER_PASSWORD'])),
        validate_certs=dict(type='bool', default=True, fallback=(env_fallback, ['CONTROLLER_VERIFY_SSL', 'TOWER_VERIFY_SSL'])),
        ca_path=dict(type='path'),
    )
    MUTUALLY_EXCLUSIVE = [('controller_oauthtoken', 'controller_username')]

    def _aap_approval(self, args, task_vars, event, subject, keyring):
        """The audit entry of the approval node of this job's AAP workflow (a review decision on AAP), or None."""
        ids = next(((task_vars[wf], task_vars[job]) for wf, job in _WORKFLOW_VARS if task_vars.get(wf) and task_vars.get(job)),
                   None)
        if ids is None:
            return None
        try:
            api = aap_approval.ControllerApi(args['controller_host'], token=args['controller_oauthtoken'],
                                             username=args['controller_username'], password=args['controller_password'],
                                             verify=(args['ca_path'] or True) if args['validate_certs'] else False)
            found = aap_approval.verified_approval(api, ids[0], ids[1], args['payload'])
        except aap_approval.AapApprovalError as exc:
            raise remediation.RemediationRefused('no approval in AAP workflow job %s: %s' % (ids[0], exc))
        return keyring.seal(dict(
            actor=found['approver'], action=remediation.APPROVAL_ACTION, subject=subject,
            owner=event['decision'].get('accountable'), outcome='success',
            reasons=['%s approved in AAP workflow job %d (proposed: review)' % (found['approver'], found['workflow_job'])],
            details=dict(request=found['request'], verdict='approve', fingerprint=event['alert'].get('fingerprint'),
                         proposed_decision='review', override=False, workflow_job=found['workflow_job'],
                         approved_at=found['approved_at'], run_by=actor(task_vars),
                         payload_sha256=remediation.payload_digest(args['payload']))))

    def run_on_controller(self, args, task_vars, result):
        started = time.monotonic()
        event = remediation.decode_payload(args['payload'])
        keyring = decision_keys.load(args['decision_key_file'])
        policy = guardrails.load_guardrails(resolve_data_file('guardrail policy', args['guardrails'], os.getcwd()))
        reg = registry.load_registry(resolve_data_file('registry', args['registry'], os.getcwd()))
        table = load_action_table(plain(args['actions']), os.getcwd())
        audit_log.check_appendable(args['audit_log'])  # a start or a refusal the log cannot record is not made
        asset = event.get('asset') if isinstance(event.get('asset'), dict) else {}
        alert = event.get('alert') if isinstance(event.get('alert'), dict) else {}
        subject = str(asset.get('asset_id') or '')
        details = dict(aap_job(task_vars) or {}, fingerprint=audit_log.recordable(alert.get('fingerprint') or ''),
                       approval=args['approval'], payload_sha256=remediation.payload_digest(args['payload']))
        checked_approval = []  # in check mode the AAP approval is not written, yet the plan must see it
        record, server_pids = _store_view(args['store'], subject)
        try:
            if not args['approval'] and remediation.needs_approval(event):
                approved = self._aap_approval(args, task_vars, event, subject if _PLAIN.match(subject) else 'unknown', keyring)
                if approved:
                    if self._task.check_mode:
                        checked_approval.append(approved)
                    else:
                        audit_log.append(args['audit_log'], **approved)
                    args['approval'] = details['approval'] = approved['details']['request']
            found = remediation.plan(
                args['payload'], task_vars['groups']['all'], policy['limits']['max_hosts_per_action'],
                itertools.chain(checked_approval, audit_log.iter_newest_first(args['audit_log'])), keyring,
                table, approval=args['approval'],
                asset_record=record, approved_models=_approved_models(reg, record), protected_pids=server_pids)
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
