# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of aigov.core.ai_policy_check (docs: plugins/modules/ai_policy_check.py)."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail

from ansible_collections.aigov.core.plugins.module_utils.policy import frameworks, policy, waivers
from ansible_collections.aigov.core.plugins.module_utils.store import registry
from ansible_collections.aigov.core.plugins.module_utils.common import paths
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.plugin_utils.action import ControllerAction, collect_assets, plain, store_assets
from ansible_collections.aigov.core.plugins.plugin_utils.data_file_locator import resolve_data_file


class ActionModule(ControllerAction):
    """Evaluate policy packs on the controller against discovered assets."""

    ARGUMENT_SPEC = dict(
        assets=dict(type='list', elements='dict'),
        hosts=dict(type='list', elements='str'),
        store=dict(type='path'),
        policy_packs=dict(type='list', elements='str', default=['default']),
        parameters=dict(type='dict', default={}),
        exceptions=dict(type='list', elements='path', default=[]),
        registry=dict(type='str', default='default'),
        fail_on=dict(type='str', default='none', choices=['none'] + list(policy.SEVERITIES)),
    )
    MUTUALLY_EXCLUSIVE = [('assets', 'hosts', 'store')]

    def run_on_controller(self, args, task_vars, result):
        try:
            packs = policy.load_packs([resolve_data_file('policy pack', p) for p in args['policy_packs']],
                                      args['parameters'])
            all_waivers = policy.load_waivers(packs, [paths.local_path(p) for p in args['exceptions']])
            reg = registry.load_registry(resolve_data_file('registry', args['registry']))
        except AigovError as exc:
            raise AnsibleActionFail('policy check refused before evaluating anything: %s' % exc)

        if args['store']:
            assets, scope = store_assets(paths.local_path(args['store']))
        else:
            assets, scope = collect_assets(args['assets'], args['hosts'], task_vars)
        hostvars = task_vars.get('hostvars', {})
        for asset in assets:
            asset['registry'] = registry.match(reg, asset)
            _observed_region(asset, hostvars)
        today = waivers.today_utc()
        findings, rules = policy.evaluate(packs, assets, all_waivers, today)

        fail_on = None if args['fail_on'] == 'none' else args['fail_on']
        summary = policy.summarize(findings, assets, fail_on)
        summary['waivers_expired'] = sum(1 for waiver in all_waivers if waiver['expires'] < today)
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
            policy_packs=[dict((k, pack[k]) for k in ('name', 'version', 'path', 'sha256', 'parameters')) for pack in packs],
            waivers=waivers.status(all_waivers, findings, today),
            registry=dict(path=reg['path'], sha256=reg['sha256'], use_cases=len(reg['use_cases'])),
            model_signers=reg['model_signers'],
            frameworks=frameworks.public(policy.catalogues_of(packs)),
            msg='%d finding(s) on %d asset(s) from %d host(s)' % (summary['findings'], len(assets), len(scope['hosts_scanned'])),
        )
        if summary['threshold_exceeded']:
            result['failed'] = True
            result['msg'] += '; at least one is %s or worse (fail_on=%s)' % (fail_on, fail_on)
        return result


def _observed_region(asset, hostvars):
    """Where the asset runs: the asset's own region, else its host's aigov_region variable (data residency)."""
    if asset.get('region'):
        return
    name = asset.get('inventory_hostname')
    region = hostvars[name].get('aigov_region') if name and name in hostvars else None
    if region:
        asset['region'] = plain(region)
