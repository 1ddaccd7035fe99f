# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of aigov.core.remediation_plan (docs: plugins/modules/remediation_plan.py)."""

from __future__ import annotations

import os

from ansible.errors import AnsibleActionFail
from ansible.module_utils.basic import env_fallback
from ansible.module_utils.errors import AnsibleFallbackNotFound

from ansible_collections.aigov.core.plugins.module_utils.alerts import guardrails
from ansible_collections.aigov.core.plugins.module_utils.audit import decision_keys
from ansible_collections.aigov.core.plugins.module_utils.common import paths
from ansible_collections.aigov.core.plugins.module_utils.remediation import gate, remediation
from ansible_collections.aigov.core.plugins.module_utils.store import registry
from ansible_collections.aigov.core.plugins.plugin_utils.action import (
    AUDIT_LOG_OPTION, DECISION_KEY_OPTION, ControllerAction, aap_job, actor, plain)
from ansible_collections.aigov.core.plugins.plugin_utils.data_file_locator import load_action_table, resolve_data_file


def _env_set(*names):
    """The first of these environment variables that is set and not empty.

    AWX's "Red Hat Ansible Automation Platform" credential injects every field, the ones left
    empty as empty strings: with only a token, CONTROLLER_USERNAME is '' and must not count.
    """
    for name in names:
        if os.environ.get(name):
            return os.environ[name]
    raise AnsibleFallbackNotFound


# Set by AAP on a job a workflow launched (tower_* on older controllers).
_WORKFLOW_VARS = (('awx_workflow_job_id', 'awx_job_id'), ('tower_workflow_job_id', 'tower_job_id'))


def _aap(args, task_vars):
    """(workflow job id, the lookup of its approval node) when this job runs in an AAP workflow, else None."""
    ids = next(((task_vars[wf], task_vars[job]) for wf, job in _WORKFLOW_VARS if task_vars.get(wf) and task_vars.get(job)),
               None)
    if ids is None:
        return None

    def lookup():
        # Only a job of an AAP workflow asks the controller: requests is not imported on every run (about 50 ms).
        from ansible_collections.aigov.core.plugins.module_utils.alerts import aap_approval  # pylint: disable=import-outside-toplevel
        api = aap_approval.ControllerApi(args['controller_host'], token=args['controller_oauthtoken'],
                                         username=args['controller_username'], password=args['controller_password'],
                                         verify=(args['ca_path'] or True) if args['validate_certs'] else False)
        return aap_approval.verified_approval(api, ids[0], ids[1], args['payload'])
    return ids[0], lookup


class ActionModule(ControllerAction):
    """Check that an alert's remediation may run and record its start (or its refusal)."""

    ARGUMENT_SPEC = dict(
        payload=dict(type='str', required=True),
        approval=dict(type='str'),
        actions=dict(type='raw', default='default'),
        store=dict(type='path'),
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
        target_group=dict(type='str'),
    )
    SHARED_PATHS = dict(store=paths.ASSET_STORE)
    MUTUALLY_EXCLUSIVE = [('controller_oauthtoken', 'controller_username')]

    def run_on_controller(self, args, task_vars, result):
        try:
            found = gate.plan_and_record(
                args['payload'], args['audit_log'], decision_keys.load(args['decision_key_file']),
                load_action_table(plain(args['actions'])),
                guardrails.load_guardrails(resolve_data_file('guardrail policy', args['guardrails'])),
                registry.load_registry(resolve_data_file('registry', args['registry'])),
                args['store'], task_vars['groups']['all'], actor(task_vars), approval=args['approval'],
                jobs=aap_job(task_vars), aap=_aap(args, task_vars), check_mode=self._task.check_mode,
                services_of=lambda host: self._services(task_vars, host))
        except remediation.RemediationRefused as refused:
            raise AnsibleActionFail('remediation refused: %s' % refused)
        result.update(changed=False, plan=found, msg='%s on %s' % (found['remediation'], found['target']))
        if args['target_group']:  # the strategy adds it, as for ansible.builtin.add_host: no task of its own
            result['add_host'] = dict(host_name=found['target'], groups=[args['target_group']], host_vars={})
        return result

    def _services(self, task_vars, host):
        """The target's aigov_baseline_services (inventory host or group vars), as remediate.yml hands it to the host."""
        hostvars = task_vars['hostvars'].get(host)
        if hostvars is None or 'aigov_baseline_services' not in hostvars:
            return {}
        return plain(self._templar.template(hostvars['aigov_baseline_services'])) or {}
