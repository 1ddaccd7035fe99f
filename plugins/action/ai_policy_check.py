# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of aigov.core.ai_policy_check (docs: plugins/modules/ai_policy_check.py)."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail

from ansible_collections.aigov.core.plugins.module_utils import policy, registry
from ansible_collections.aigov.core.plugins.module_utils.errors import AigovError
from ansible_collections.aigov.core.plugins.plugin_utils.action import ControllerAction, collect_assets
from ansible_collections.aigov.core.plugins.plugin_utils.data_files import resolve_data_file


class ActionModule(ControllerAction):
    """Evaluate policy packs on the controller against discovered assets."""

    ARGUMENT_SPEC = dict(
        assets=dict(type='list', elements='dict'),
        hosts=dict(type='list', elements='str'),
        policy_packs=dict(type='list', elements='str', default=['default']),
        registry=dict(type='str', default='default'),
        fail_on=dict(type='str', default='none', choices=['none'] + list(policy.SEVERITIES)),
    )

    def run_on_controller(self, args, task_vars, result):
        base_dir = self._loader.get_basedir()
        try:
            packs = policy.load_packs([resolve_data_file('policy pack', p, base_dir) for p in args['policy_packs']])
            reg = registry.load_registry(resolve_data_file('registry', args['registry'], base_dir))
        except AigovError as exc:
            raise AnsibleActionFail('policy check refused before evaluating anything: %s' % exc)

        assets, scope = collect_assets(args['assets'], args['hosts'], task_vars)
        for asset in assets:
            asset['registry'] = registry.match(reg, asset)
        findings, rules = policy.evaluate(packs, assets)

        fail_on = None if args['fail_on'] == 'none' else args['fail_on']
        summary = policy.summarize(findings, assets, fail_on)
        summary['hosts_scanned'] = len(scope['hosts_scanned'])
        summary['hosts_missing'] = len(scope['hosts_missing'])
        summary['complete'] = not scope['hosts_missing']
        result.update(
            changed=False,
            findings=findings,
            summary=summary,
            rules=rules,
            scope=scope,
            assets=assets,
            policy_packs=[dict((k, pack[k]) for k in ('name', 'version', 'path', 'sha256')) for pack in packs],
            registry=dict(path=reg['path'], sha256=reg['sha256'], use_cases=len(reg['use_cases'])),
            msg='%d finding(s) on %d asset(s) from %d host(s)' % (summary['findings'], len(assets), len(scope['hosts_scanned'])),
        )
        if summary['threshold_exceeded']:
            result['failed'] = True
            result['msg'] += '; at least one is %s or worse (fail_on=%s)' % (fail_on, fail_on)
        return result
