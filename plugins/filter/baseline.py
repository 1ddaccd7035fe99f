# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters behind the aigov.core.ai_baseline role: baseline_plan and baseline_outcome.

The decisions live in module_utils/policy/baseline.py; these only convert its errors.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.aigov.core.plugins.module_utils.policy import baseline
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.common.survey_answers import answer_list


def baseline_plan(check, host, mode='audit', rules_disabled=None, remediations_disabled=None, allow_disruptive=False):
    """What the role does on HOST with the result CHECK of aigov.core.ai_policy_check."""
    if not isinstance(check, dict) or 'findings' not in check:
        raise AnsibleFilterError('baseline_plan expects the registered result of aigov.core.ai_policy_check')
    try:
        # boolean(): a survey answers 'false' as a string, which bool() would take for true.
        return baseline.plan(check['findings'], check.get('assets') or [], host, mode, answer_list(rules_disabled),
                             answer_list(remediations_disabled), boolean(allow_disruptive, strict=True))
    except TypeError as exc:
        raise AnsibleFilterError('aigov_baseline_allow_disruptive must be a boolean: %s' % exc)
    except AigovError as exc:
        raise AnsibleFilterError(str(exc))


def baseline_outcome(plan, check, host, actions=None):
    """Fixed, remaining and skipped findings of HOST after the remediations (CHECK is the post-check)."""
    if not isinstance(check, dict) or 'findings' not in check:
        raise AnsibleFilterError('baseline_outcome expects the registered result of aigov.core.ai_policy_check')
    return baseline.outcome(plan, check['findings'], host, actions)


def baseline_action(pair, remediation):
    """(target, changed) of one remediation task result -> an action record of the outcome."""
    target, changed = pair
    return {'remediation': remediation, 'target': target, 'changed': bool(changed)}


def baseline_restart(pair):
    """(service target, restart commands) -> what to restart and which loopback ports to wait for."""
    target, commands = pair
    ports = sorted(set(listener['port'] for listener in target.get('listeners') or ()))
    return {'asset_id': target['asset_id'], 'name': target.get('name'), 'commands': list(commands or ()),
            'listeners': [{'port': port} for port in ports]}


class FilterModule(object):
    """aigov.core baseline filters."""

    def filters(self):
        return {'baseline_plan': baseline_plan, 'baseline_outcome': baseline_outcome, 'baseline_action': baseline_action,
                'baseline_restart': baseline_restart}
