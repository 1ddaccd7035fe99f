# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of aigov.core.agent_secret_findings (docs: plugins/modules/agent_secret_findings.py)."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail

from ansible_collections.aigov.core.plugins.module_utils.policy import policy
from ansible_collections.aigov.core.plugins.module_utils.secrets import agent_secret_findings
from ansible_collections.aigov.core.plugins.module_utils.common._options import OptionAdapter
from ansible_collections.aigov.core.plugins.module_utils.secrets._secret_backend_options import ARGSPEC as BACKEND_ARGSPEC
from ansible_collections.aigov.core.plugins.module_utils.secrets._secret_backend_options import open_backend
from ansible_collections.aigov.core.plugins.plugin_utils.action import ControllerAction, collect_assets, plain, store_assets

CHECK_KEYS = ('summary', 'findings', 'rules', 'assets')


class ActionModule(ControllerAction):
    """Read-only findings over agent secrets: stale, shared, in plaintext outside the backend."""

    ARGUMENT_SPEC = dict(
        agents=dict(type='list', elements='raw'),
        max_age=dict(type='str'),
        assets=dict(type='list', elements='dict'),
        hosts=dict(type='list', elements='str'),
        store=dict(type='path'),
        check=dict(type='dict'),
        fingerprint_key=dict(type='str', no_log=True),
        **BACKEND_ARGSPEC
    )
    MUTUALLY_EXCLUSIVE = [('assets', 'hosts', 'store')]

    def run_on_controller(self, args, task_vars, result):
        check = plain(args['check']) if args['check'] is not None else None
        if check is not None and any(key not in check for key in CHECK_KEYS):
            raise AnsibleActionFail('check is not an aigov.core.ai_policy_check result (it needs %s); pass the '
                                    'variable registered from that task' % ', '.join(CHECK_KEYS))
        backend = open_backend(OptionAdapter.from_dict(args), warn=self._display.warning)
        names = plain(args['agents']) if args['agents'] is not None else agent_secret_findings.agents_in_backend(backend)
        agents = agent_secret_findings.normalize_agents(names)
        if args['store']:
            assets, scope = store_assets(args['store'])
        else:
            assets, scope = collect_assets(args['assets'], args['hosts'], task_vars)
        findings, rules = agent_secret_findings.evaluate(backend, agents, assets, max_age=args['max_age'],
                                                         fingerprint_key=args['fingerprint_key'])
        summary = policy.summarize(findings, agents)
        summary['agents'] = summary.pop('assets')
        result.update(changed=False, findings=findings, rules=rules, summary=summary,
                      hosts_missing=scope['hosts_missing'],
                      msg='%d finding(s) over %d agent(s) and %d discovered asset(s)' % (len(findings), len(agents), len(assets)))
        if check is not None:
            result['check'] = agent_secret_findings.merge_into_check(check, findings, rules)
        return result
